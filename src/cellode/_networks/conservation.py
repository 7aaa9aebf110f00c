"""Conservation laws of a reaction network (SPEC B2).

A conservation law is a row vector w with w^T S = 0: along every solution of dx/dt = S v the
quantity w^T x(t) stays at its initial value, whatever the rates v are. The laws form the left
null space of S, of dimension k = n - rank(S).

We return a basis of that space as *integer* vectors, and -- where the cone
{w >= 0 : w^T S = 0} spans the null space -- a basis of *non-negative* vectors ("semi-positive
conservation laws", conserved moieties, as chemists write them: E + ES, S + ES + P).

How (all results are exact; floating point only proposes, integers verify):

0. S is block diagonal over the connected components of the species-reaction graph, and so is
   its left null space: each component is solved on its own; a species that no reaction
   changes is a law by itself.
1. Integer basis in reduced form (W = [positive diagonal on k "free" species]): exact sparse
   Gauss–Jordan elimination of S^T over the rationals, pivoting on the species in the fewest
   reactions, which keeps stoichiometric rows sparse (1,000 x 2,000 in well under a second).
   If fill-in or the rational work grows past a budget, a floating-point route proposes the
   basis instead: the null space of S S^T from a symmetric eigendecomposition (a clear spectral
   gap certifies rank(S) >= n - k), rows rounded to small-denominator rationals and scaled to
   integers, then W S = 0 checked in exact integer arithmetic; with the diagonal block this
   proves W is a basis. If any check fails we go back to exact elimination without a budget.
2. Non-negative basis. Extreme rays of the pointed cone {w >= 0, w^T S = 0} are the
   minimal-support semi-positive laws; we pick k linearly independent ones, smallest supports
   first.
   - Up to 200 species: the double description method inside the k-dimensional null space
     (one species constraint w_i >= 0 at a time, exact integers, combinatorial adjacency test),
     within a work budget.
   - Otherwise (or past the budget): one linear programme per species not yet covered by a ray
     (`_extreme_rays_by_lp`); this also decides exactly whether the cone spans the null space.
     If it does but the rays found are fewer than k, programmes directed out of their span add
     rays until they are k (`_directed_rays`). Each ray's support comes from the float
     solution, the ray itself from exact elimination on that support.
   When the cone does not span the null space (e.g. A + B -> 0 conserves A - B), the remaining
   directions come from the integer basis of step 1 and `nonnegative` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import ModelError

_MAX_EXACT_UPDATES = 250_000  # with a budget: a second or two of rational arithmetic at most
_FILL_BUDGET_PER_SPECIES = 200  # exact elimination gives up (for the float route) past this fill
_DD_MAX_SPECIES = 200
_MAX_RAYS = 2000
_MAX_DD_WORK = 3_000_000  # double description gives way to linear programmes past this work
_PRIME = 2_147_483_647  # 2^31 - 1: products of two residues fit in int64


@dataclass(frozen=True, eq=False)
class ConservationLaws:
    """A basis of the conservation laws W (k x n, integer): W S = 0, so W x(t) = W x(0).

    `nonnegative` says whether every law has non-negative coefficients (a basis of semi-positive
    laws). `str(laws)` reads like "E + ES"; `laws.describe(x0)` like "E + ES = 1.0".
    """

    matrix: Int[np.ndarray, "k n"]
    species: tuple[str, ...]
    nonnegative: bool

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def totals(self, x0: Float[ArrayLike, " n"]) -> Float[Array, " k"]:
        """The conserved totals T = W x0 (differentiable in x0)."""
        x0 = jnp.asarray(x0)
        return jnp.asarray(self.matrix, dtype=x0.dtype) @ x0

    def expressions(self) -> list[str]:
        """Each law as text, e.g. "S + ES + P" or "2 A2 + A"."""
        out = []
        for row in self.matrix:
            terms = []
            for c, s in zip(row, self.species, strict=True):
                if c == 0:
                    continue
                mag = "" if abs(c) == 1 else f"{abs(c)} "
                sign = "-" if c < 0 else "+"
                terms.append((sign, f"{mag}{s}"))
            text = ""
            for i, (sign, term) in enumerate(terms):
                if i == 0:
                    text = term if sign == "+" else f"-{term}"
                else:
                    text += f" {sign} {term}"
            out.append(text)
        return out

    def describe(self, x0: Float[ArrayLike, " n"] | None = None) -> str:
        """One law per line; with `x0`, each with its total: "E + ES = 1.0"."""
        if len(self) == 0:
            return "no conservation laws (S has full row rank)"
        exprs = self.expressions()
        if x0 is None:
            return "\n".join(exprs)
        totals = np.asarray(self.totals(x0))
        return "\n".join(f"{e} = {t:.6g}" for e, t in zip(exprs, totals, strict=True))

    def __str__(self) -> str:
        return self.describe()


def conservation_drift(
    laws: ConservationLaws | Int[ArrayLike, "k n"], xs: Float[ArrayLike, "T n"]
) -> Float[Array, " k"]:
    """Largest deviation of each conserved quantity along a trajectory:
    max_t |w^T x(t) - w^T x(t_0)| for every law w (rows of `laws`)."""
    matrix = laws.matrix if isinstance(laws, ConservationLaws) else np.asarray(laws)
    xs = jnp.asarray(xs)
    values = xs @ jnp.asarray(matrix, dtype=xs.dtype).T
    return jnp.max(jnp.abs(values - values[0]), axis=0)


def conservation_laws(network, *, method: str = "auto") -> ConservationLaws:
    """The conservation laws of a `ReactionNetwork` (see the module docstring for the method).

    `method` is "auto", "exact" or "float"; see `left_nullspace_basis`.
    """
    matrix, nonneg = left_nullspace_basis(network.stoichiometry, method=method)
    return ConservationLaws(matrix, tuple(network.species), nonneg)


def left_nullspace_basis(
    S: Int[np.ndarray, "n m"], *, method: str = "auto", max_rays: int = _MAX_RAYS
) -> tuple[Int[np.ndarray, "k n"], bool]:
    """An integer basis W of {w : w^T S = 0}, non-negative where possible; returns (W, nonneg).

    `method`: "auto" (exact sparse elimination, switching to the verified floating-point route
    when fill-in grows past a budget), "exact", or "float" (verified; exact fallback).
    """
    S = np.asarray(S)
    if S.ndim != 2 or not np.issubdtype(S.dtype, np.integer):
        raise ModelError(f"the stoichiometric matrix must be a 2-D integer array; got {S.dtype}.")
    if method not in ("auto", "exact", "float"):
        raise ModelError(f"unknown method {method!r}; use 'auto', 'exact' or 'float'.")
    if S.ndim == 2 and S.shape[0] == 0:
        return np.zeros((0, 0), dtype=np.int64), True
    n, m = S.shape
    laws: list[np.ndarray] = []
    nonneg = True
    # S is block diagonal over the connected components of the species-reaction graph, and so
    # is its left null space: solve each component on its own.
    graph = scipy.sparse.coo_matrix(
        (np.ones(np.count_nonzero(S)), np.nonzero(S)), shape=(n, m)
    ).tocsr()
    bipartite = scipy.sparse.bmat([[None, graph], [graph.T, None]], format="csr")
    n_comp, labels = scipy.sparse.csgraph.connected_components(bipartite, directed=False)
    for c in range(n_comp):
        species = np.flatnonzero(labels[:n] == c)
        reactions = np.flatnonzero(labels[n:] == c)
        if len(species) == 0:  # a reaction that changes nothing
            continue
        if len(reactions) == 0:  # species that no reaction changes: conserved on its own
            for i in species:
                law = np.zeros(n, dtype=np.int64)
                law[i] = 1
                laws.append(law)
            continue
        W_c, nonneg_c = _component_basis(S[np.ix_(species, reactions)], method, max_rays)
        nonneg &= nonneg_c
        for row in W_c:
            law = np.zeros(n, dtype=np.int64)
            law[species] = row
            laws.append(law)
    W = np.array(laws, dtype=np.int64).reshape(len(laws), n)
    assert _is_left_null(W, S), "internal error: conservation law basis failed verification"
    return _sort_laws(W), nonneg


def _component_basis(S: np.ndarray, method: str, max_rays: int) -> tuple[np.ndarray, bool]:
    """Integer (and where possible non-negative) basis for one connected component."""
    n = S.shape[0]
    reduced = None
    if method == "auto":
        reduced = _exact_reduced_basis(S, fill_budget=_FILL_BUDGET_PER_SPECIES * max(n, 1))
    if method == "float" or (method == "auto" and reduced is None):
        reduced = _float_reduced_basis(S)
    if reduced is None:
        reduced = _exact_reduced_basis(S)
    W, free = reduced
    if W.shape[0] == 0:
        return W, True
    if W.shape[0] == 1:  # a single law: non-negative up to sign, or no semi-positive law at all
        w = W[0] if W[0][np.flatnonzero(W[0])[0]] > 0 else -W[0]
        return w[None, :], bool(np.all(w >= 0))
    rays = _extreme_rays(W, free, max_rays) if n <= _DD_MAX_SPECIES else None
    if rays is not None:
        spans = _independent_count(rays, W.shape[0]) == W.shape[0]
    else:
        rays, spans = _extreme_rays_by_lp(S, W)
    return _choose_basis(rays, W, spans)


# --- step 1: an integer basis in reduced form --------------------------------------------------


def _is_left_null(W: np.ndarray, S: np.ndarray) -> bool:
    """Exact check W S == 0 (int64 when it cannot overflow, Python integers otherwise)."""
    if W.shape[0] == 0:
        return True
    bound = int(np.abs(W).max(initial=0)) * int(np.abs(S).sum(axis=0).max(initial=0))
    if bound < 2**62:
        return not np.any(scipy.sparse.csr_matrix(W.astype(np.int64)) @ S.astype(np.int64))
    return not np.any(W.astype(object) @ S.astype(object))


def _exact_reduced_basis(
    S: np.ndarray, fill_budget: int | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact Gauss–Jordan elimination of S^T over the rationals (sparse rows).

    Pivots go to the species in the fewest reactions (a Markowitz-like order), which keeps the
    rows of stoichiometric matrices sparse. Returns (W, free): W[:, free] is a positive diagonal
    and W S = 0; or None when the reduced rows hold more than `fill_budget` non-zeros or the
    elimination needs more than `_MAX_EXACT_UPDATES` rational updates (random, expander-like
    networks fill in; the floating-point route then takes over).
    """
    nnz = 0
    updates = 0
    n, m = S.shape
    column_count = np.count_nonzero(S, axis=1)
    pivots: dict[int, dict[int, Fraction]] = {}  # pivot species -> reduced row
    Sc = S.tocsc() if scipy.sparse.issparse(S) else scipy.sparse.csc_matrix(S)
    for j in range(m):
        start, end = Sc.indptr[j], Sc.indptr[j + 1]
        row = {
            int(i): Fraction(int(v))
            for i, v in zip(Sc.indices[start:end], Sc.data[start:end], strict=True)
        }
        for p in [p for p in row if p in pivots]:
            if p not in row:
                continue
            factor = row[p]
            updates += len(pivots[p])
            for c, v in pivots[p].items():
                new = row.get(c, 0) - factor * v
                if new:
                    row[c] = new
                else:
                    row.pop(c, None)
        # substitution cannot reintroduce a pivot column: pivot rows are fully reduced
        if not row:
            continue
        p = min(row, key=lambda c: (column_count[c], c))
        inv = 1 / row[p]
        row = {c: v * inv for c, v in row.items()}
        for other in pivots.values():
            if p in other:
                factor = other[p]
                updates += len(row)
                nnz -= len(other)
                for c, v in row.items():
                    new = other.get(c, 0) - factor * v
                    if new:
                        other[c] = new
                    else:
                        other.pop(c, None)
                nnz += len(other)
        pivots[p] = row
        nnz += len(row)
        if fill_budget is not None and (nnz > fill_budget or updates > _MAX_EXACT_UPDATES):
            return None
    free = np.array([i for i in range(n) if i not in pivots], dtype=np.int64)
    W = np.zeros((len(free), n), dtype=object)
    for a, f in enumerate(free):
        vec = {int(f): Fraction(1)}
        for p, row in pivots.items():
            if f in row:
                vec[p] = -row[f]
        scale = math.lcm(*(v.denominator for v in vec.values()))
        for c, v in vec.items():
            W[a, c] = int(v * scale)
    W = _to_int_array(W)
    return W, free


def _to_int_array(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=object)
    if W.size and max(abs(int(v)) for v in W.flat) >= 2**62:
        raise ModelError(
            "conservation-law coefficients exceed 2^62; this network's null space has no basis "
            "with representable integer coefficients."
        )
    return W.astype(np.int64).reshape(W.shape)


def _float_reduced_basis(S: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Floating-point proposal of the reduced basis, verified exactly; None if unverifiable."""
    n, m = S.shape
    if m == 0:
        return np.eye(n, dtype=np.int64), np.arange(n)
    Ssp = scipy.sparse.csr_matrix(S.astype(np.float64))
    G = (Ssp @ Ssp.T).toarray()
    evals, evecs = np.linalg.eigh(G)
    lam_max = max(float(evals[-1]), 1.0)
    null = evals <= 1e-9 * lam_max
    ambiguous = (evals > 1e-9 * lam_max) & (evals < 1e-6 * lam_max)
    if np.any(ambiguous):
        return None  # no clear spectral gap: let exact elimination decide the rank
    k = int(null.sum())
    if k == 0:
        return np.zeros((0, n), dtype=np.int64), np.zeros(0, dtype=np.int64)
    N = evecs[:, null]  # orthonormal basis of the null space, n x k
    _, _, perm = scipy.linalg.qr(N.T, pivoting=True, mode="economic")
    free = np.sort(perm[:k])
    Wf = np.linalg.solve(N[free, :].T, N.T)  # k x n with identity on the free species
    rows = []
    for a, row in enumerate(Wf):
        row = row.copy()
        row[free] = 0.0
        row[free[a]] = 1.0
        ints = _rational_row(row)
        if ints is None:
            return None
        rows.append(ints)
    W = np.array(rows, dtype=np.int64)
    if not _is_left_null(W, S):
        return None
    return W, free


def _rational_row(row: np.ndarray, max_denominator: int = 10**6) -> np.ndarray | None:
    """Scale a float vector with small-denominator rational entries to exact integers."""
    near = np.round(row)
    off = np.abs(row - near) > 1e-9
    scale = 1
    for x in row[off]:
        scale = math.lcm(scale, Fraction(float(x)).limit_denominator(max_denominator).denominator)
        if scale > 10**9:
            return None
    scaled = row * scale
    ints = np.round(scaled)
    if np.max(np.abs(scaled - ints)) > 1e-6 * max(1.0, float(np.max(np.abs(scaled)))):
        return None
    ints = ints.astype(np.int64)
    g = np.gcd.reduce(np.abs(ints[ints != 0])) if np.any(ints) else 1
    return ints // g


# --- step 2: non-negative basis by double description -----------------------------------------


def _extreme_rays(W: np.ndarray, free: np.ndarray, max_rays: int) -> np.ndarray | None:
    """Extreme rays of {w in rowspace(W) : w >= 0}, or None when over `max_rays` or overflow.

    W[:, free] must be a positive diagonal, so the rows of W generate the simplicial cone
    {w in rowspace(W) : w_free >= 0}; the other constraints w_i >= 0 are added one at a time.
    """
    k, n = W.shape
    # species in no law never constrain the cone
    support = np.any(W != 0, axis=0)
    remaining = [i for i in range(n) if support[i] and i not in set(free.tolist())]
    if k > max_rays:
        return None
    rays = W.copy()
    work = 0
    processed = list(free.tolist())
    zero = rays[:, processed] == 0  # rays x processed
    while remaining:
        signs = np.sign(rays[:, remaining])
        npos = (signs > 0).sum(axis=0)
        nneg = (signs < 0).sum(axis=0)
        pick = int(np.argmin(npos * nneg))
        i = remaining.pop(pick)
        col = rays[:, i]
        pos, neg, zer = np.flatnonzero(col > 0), np.flatnonzero(col < 0), np.flatnonzero(col == 0)
        work += len(pos) * len(neg) * rays.shape[0]  # adjacency tests cost about this
        if work > _MAX_DD_WORK:
            return None
        new_rays = [rays[pos], rays[zer]]
        new_zero = [zero[pos], zero[zer]]
        if len(pos) and len(neg):
            zf = zero.astype(np.float64)
            for p in pos:
                common = zero[p][None, :] & zero[neg]  # candidates x processed
                size = common.sum(axis=1)
                ok = size >= k - 2
                if not np.any(ok):
                    continue
                cand = neg[ok]
                common = common[ok]
                size = size[ok]
                contained = (common.astype(np.float64) @ zf.T) >= size[:, None] - 0.5
                contained[:, p] = False
                contained[np.arange(len(cand)), cand] = False
                adjacent = ~np.any(contained, axis=1)
                if not np.any(adjacent):
                    continue
                q = cand[adjacent]
                a = -col[q][:, None]  # > 0
                b = col[p]
                if np.abs(a).max() * np.abs(rays[p]).max() > 2**60 or (
                    b * np.abs(rays[q]).max() > 2**60
                ):
                    return None
                combos = a * rays[p][None, :] + b * rays[q]
                g = np.gcd.reduce(np.abs(combos), axis=1)
                combos //= g[:, None]
                new_rays.append(combos)
                new_zero.append(common[adjacent])
        rays = np.concatenate(new_rays, axis=0)
        zero = np.concatenate(new_zero, axis=0)
        processed.append(i)
        zero = np.concatenate([zero, (rays[:, i] == 0)[:, None]], axis=1)
        if rays.shape[0] > max_rays:
            return None
    return rays


def _extreme_rays_by_lp(S: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, bool]:
    """Some extreme rays of {w >= 0, w^T S = 0}, one linear programme per uncovered species.

    For a species i that some law involves, min 1^T w subject to S^T w = 0, w >= 0, w_i = 1 is
    solved by the simplex method, whose optimum is a vertex of the section {w_i = 1} of the cone,
    i.e. an extreme ray. The float solution only proposes the support; the ray itself comes from
    exact elimination on that support (`_exact_ray`). Species in the support of a ray already found are skipped, so a
    handful of programmes usually cover the null space. Infeasible: no semi-positive law
    involves species i.

    Also returns whether the cone spans the null space N. With P the species that some
    semi-positive law involves, the sum w* of the rays found is positive on all of P, and for any
    v in N supported in P, w* + eps v >= 0 for small eps: so span(cone) = {v in N : v = 0 off P}.
    The cone spans N exactly when every species involved in some law is in P.
    """
    from scipy.optimize import linprog

    n = S.shape[0]
    k = W.shape[0]
    involved = np.any(W != 0, axis=0)
    covered = np.zeros(n, dtype=bool)
    # species in no law are zero in every law: the programmes need only the others
    idx = np.flatnonzero(involved)
    sub = S[idx]
    sub = sub[:, np.any(sub != 0, axis=0)]
    m = sub.shape[1]
    A_eq = scipy.sparse.vstack(
        [scipy.sparse.csr_matrix(sub.T.astype(np.float64)), scipy.sparse.csr_matrix((1, len(idx)))]
    ).tolil()
    b_eq = np.zeros(m + 1)
    b_eq[-1] = 1.0
    rays: list[np.ndarray] = []
    echelon = _Echelon()
    for a, i in enumerate(idx):
        if covered[i] or echelon.rank == k:
            continue
        A_eq[m, :] = 0.0
        A_eq[m, a] = 1.0
        res = linprog(
            np.ones(len(idx)), A_eq=A_eq.tocsr(), b_eq=b_eq, bounds=(0, None), method="highs-ds"
        )
        if res.status != 0:
            continue
        ray = _exact_ray(sub, res.x)
        if ray is None:
            continue
        full = np.zeros(n, dtype=np.int64)
        full[idx] = ray
        covered |= full != 0
        rays.append(full)
        echelon.add(full)
    spans = echelon.rank == k or bool(np.all(covered[involved]))
    if spans and echelon.rank < k:
        rays += _directed_rays(sub, W[:, idx], [r[idx] for r in rays], echelon, idx, n)
    return np.array(rays, dtype=np.int64).reshape(len(rays), n), spans


def _directed_rays(
    S: np.ndarray, W: np.ndarray, found: list[np.ndarray], echelon: _Echelon, idx, n: int
) -> list[np.ndarray]:
    """More extreme rays until they span the null space (when the cone spans it).

    The normalised extreme rays are the vertices of P = {w >= 0, w^T S = 0, 1^T w = 1}. If the
    rays found span only V, take a law d in the null space orthogonal to V: since the vertices
    span the null space, max d^T w or min d^T w over P is attained at a vertex outside V.
    """
    from scipy.optimize import linprog

    k = W.shape[0]
    n_sub = S.shape[0]
    A_eq = scipy.sparse.vstack(
        [
            scipy.sparse.csr_matrix(S.T.astype(np.float64)),
            scipy.sparse.csr_matrix(np.ones((1, n_sub))),
        ]
    ).tocsr()
    b_eq = np.zeros(A_eq.shape[0])
    b_eq[-1] = 1.0
    new: list[np.ndarray] = []
    attempts = 0
    while echelon.rank < k and attempts < 4 * k:
        V = np.array(found + [r[idx] for r in new], dtype=np.float64)
        Wf = W.astype(np.float64).T  # n_sub x k
        Q, _ = np.linalg.qr(V.T)  # rays found are independent: Q spans V
        resid = Wf - Q @ (Q.T @ Wf)
        norms = np.linalg.norm(resid, axis=0) / np.maximum(1.0, np.linalg.norm(Wf, axis=0))
        best = int(np.argmax(norms))
        if norms[best] < 1e-8:
            break
        d = resid[:, best]
        added = False
        for sign in (1.0, -1.0):
            attempts += 1
            res = linprog(sign * d, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds")
            if res.status != 0:
                continue
            ray = _exact_ray(S, res.x)
            if ray is None:
                continue
            full = np.zeros(n, dtype=np.int64)
            full[idx] = ray
            if echelon.add(full):
                new.append(full)
                added = True
                break
        if not added:
            break
    return new


def _exact_ray(S: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """The exact integer law with the support of the floating-point vertex `w`, if unique.

    A vertex of the section of the cone is an extreme ray: the laws supported on its support T
    form a line. Exact elimination on S restricted to T gives it; None if the float support was
    not clean (then the vertex is dropped).
    """
    support = np.flatnonzero(w > 1e-9 * max(float(np.max(w)), 1.0))
    sub = S[support]
    sub = sub[:, np.any(sub != 0, axis=0)]
    if sub.shape[1] == 0:  # species that no reaction changes: a unit law if alone
        basis = np.ones((1, 1), dtype=np.int64) if len(support) == 1 else np.zeros((0, 0))
    else:
        found = _exact_reduced_basis(sub, fill_budget=_FILL_BUDGET_PER_SPECIES * len(support))
        found = found if found is not None else _float_reduced_basis(sub)
        if found is None:
            return None
        basis = found[0]
    if basis.shape[0] != 1:
        return None
    ray = basis[0] if basis[0, 0] > 0 else -basis[0]
    if np.any(ray <= 0):
        return None
    out = np.zeros(S.shape[0], dtype=np.int64)
    out[support] = ray
    return out


def _choose_basis(rays: np.ndarray | None, W: np.ndarray, spans: bool) -> tuple[np.ndarray, bool]:
    """k independent laws: extreme rays with the smallest supports first.

    If they do not reach rank k but the cone spans the null space (`spans`), the basis is
    completed with non-negative combinations c w* + w_a (w* the sum of the rays, positive wherever
    any law is non-zero; w_a the rows of W; c large enough), and w* itself. Otherwise it is
    completed with rows of W and is not non-negative.
    """
    k = W.shape[0]
    candidates: list[np.ndarray] = []
    if rays is not None and len(rays):
        order = sorted(
            range(len(rays)),
            key=lambda r: (int(np.count_nonzero(rays[r])), tuple(-np.abs(rays[r]))),
        )
        candidates = [rays[r] for r in order]
    chosen = _independent_subset(candidates, k)
    if len(chosen) < k and spans and rays is not None and len(rays):
        w_star = np.sum(rays, axis=0)
        extra = [w_star]
        for w in W:
            neg = w < 0
            if np.any(w_star[w != 0] <= 0):
                break  # w* does not cover this law: the cone does not span after all
            c = int(np.max(-(w[neg] // w_star[neg]))) if np.any(neg) else 0  # ceil(-w/w*)
            v = c * w_star + w
            extra.append(v // np.gcd.reduce(v[v != 0]) if np.any(v) else v)
        chosen += _independent_subset(extra, k, start=chosen)[len(chosen) :]
    nonneg = len(chosen) == k and all(np.all(v >= 0) for v in chosen)
    if len(chosen) < k:
        chosen += _independent_subset(list(W), k, start=chosen)[len(chosen) :]
    return np.array(chosen, dtype=np.int64).reshape(k, W.shape[1]), nonneg


def _independent_count(vectors: np.ndarray, k: int) -> int:
    return len(_independent_subset(list(vectors), k))


class _Echelon:
    """Row echelon form modulo a large prime, grown one vector at a time.

    A vector independent mod p of those added is independent over the rationals.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[int, np.ndarray]] = []

    @property
    def rank(self) -> int:
        return len(self.rows)

    def add(self, v: np.ndarray) -> bool:
        """Add v if it is independent of the rows so far; returns whether it was."""
        r = np.mod(v.astype(np.int64), _PRIME)
        for c, b in self.rows:
            if r[c]:
                r = np.mod(r - r[c] * b, _PRIME)
        nz = np.flatnonzero(r)
        if len(nz) == 0:
            return False
        c = int(nz[0])
        inv = pow(int(r[c]), _PRIME - 2, _PRIME)
        self.rows.append((c, np.mod(r * inv, _PRIME)))
        return True


def _independent_subset(
    vectors: list[np.ndarray], k: int, start: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    """Greedy: `start` plus each vector independent of those kept so far, up to k in all."""
    echelon = _Echelon()
    kept: list[np.ndarray] = []
    for v in start or []:
        echelon.add(v)
        kept.append(v)
    for v in vectors:
        if len(kept) == k:
            break
        if echelon.add(v):
            kept.append(v)
    return kept


def _sort_laws(W: np.ndarray) -> np.ndarray:
    """Readable order: by first species involved, then by support size; leading entry positive."""
    W = W.copy()
    for a in range(W.shape[0]):
        nz = np.flatnonzero(W[a])
        if len(nz) and W[a, nz[0]] < 0:
            W[a] = -W[a]
    keys = [(int(np.flatnonzero(w)[0]), int(np.count_nonzero(w)), tuple(w)) for w in W]
    order = sorted(range(W.shape[0]), key=lambda a: keys[a])
    return W[order]

"""Conservation laws: known answers, exactness, and properties on random networks (SPEC B2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellode import ReactionNetwork, conservation_drift
from cellode._networks.conservation import (
    _choose_basis,
    _exact_reduced_basis,
    _extreme_rays,
    _extreme_rays_by_lp,
    left_nullspace_basis,
)

from .network_catalog import MAPK

# (text, expected laws as {species: coefficient}) -- the unique minimal semi-positive basis
KNOWN = {
    "binding": ("X1 + X2 <-> X3 ; kf, kr", [{"X1": 1, "X3": 1}, {"X2": 1, "X3": 1}]),
    "michaelis_menten": (
        "E + S <-> ES ; k1, k2\nES -> E + P ; kcat",
        [{"E": 1, "ES": 1}, {"S": 1, "ES": 1, "P": 1}],
    ),
    "mapk_two_levels": (
        MAPK,
        [
            {"E1": 1, "KKK_E1": 1},
            {"E2": 1, "KKKp_E2": 1},
            {"KKK": 1, "KKK_E1": 1, "KKKp": 1, "KKKp_E2": 1, "KK_KKKp": 1},
            {"KK": 1, "KK_KKKp": 1, "KKp": 1, "KKp_P1": 1},
            {"P1": 1, "KKp_P1": 1},
        ],
    ),
    "robertson": (
        "A -> B ; k1\n2 B -> B + C ; k2\nB + C -> A + C ; k3",
        [{"A": 1, "B": 1, "C": 1}],
    ),
    "receptor_dimerisation": (
        "L + R <-> LR ; kon, koff\n2 LR <-> D ; kd, ku",
        [{"L": 1, "LR": 1, "D": 2}, {"R": 1, "LR": 1, "D": 2}],
    ),
    "dimer": ("2 A <-> A2 ; k, kr", [{"A": 1, "A2": 2}]),
    "cycle": ("A -> B ; k1\nB -> C ; k2\nC -> A ; k3", [{"A": 1, "B": 1, "C": 1}]),
    "gene_expression": (
        "G_off <-> G_on ; kon, koff\nG_on -> G_on + M ; ktx\nM -> ; dm\nM -> M + P ; ktl\n"
        "P -> ; dp",
        [{"G_off": 1, "G_on": 1}],
    ),
    "competitive_inhibition": (
        "E + S <-> ES ; k1, k2\nE + I <-> EI ; k3, k4\nES -> E + P ; kcat",
        [{"E": 1, "ES": 1, "EI": 1}, {"S": 1, "ES": 1, "P": 1}, {"I": 1, "EI": 1}],
    ),
    "open_synthesis_degradation": ("-> A ; ks\nA -> B ; k\nB -> ; kd", []),
    "full_rank_autocatalysis": ("A -> 2 A ; k\nA + B -> ; k2\n-> B ; kb", []),
    "trimer_assembly": (
        "A + B <-> AB ; k1, k2\nAB + C <-> ABC ; k3, k4",
        [{"A": 1, "AB": 1, "ABC": 1}, {"B": 1, "AB": 1, "ABC": 1}, {"C": 1, "ABC": 1}],
    ),
}


def _as_dicts(laws) -> list[dict[str, int]]:
    return [{s: int(c) for s, c in zip(laws.species, row, strict=True) if c} for row in laws.matrix]


def _key(d: dict[str, int]) -> tuple:
    return tuple(sorted(d.items()))


@pytest.mark.parametrize("name", sorted(KNOWN))
@pytest.mark.parametrize("method", ["exact", "float"])
def test_known_networks(name, method):
    text, expected = KNOWN[name]
    net = ReactionNetwork.from_text(text)
    from cellode._networks.conservation import conservation_laws

    laws = conservation_laws(net, method=method)
    assert laws.matrix.dtype == np.int64
    assert laws.matrix.shape == (len(expected), net.n_species)
    assert sorted(map(_key, _as_dicts(laws))) == sorted(map(_key, expected))
    assert laws.nonnegative
    assert not np.any(laws.matrix @ net.stoichiometry)


def test_mixed_sign_law_when_no_nonnegative_basis_exists():
    net = ReactionNetwork.from_text("A + B -> ; k")  # A - B is conserved, nothing semi-positive
    laws = net.conservation_laws()
    assert not laws.nonnegative
    assert _as_dicts(laws) == [{"A": 1, "B": -1}]
    assert str(laws) == "A - B"


def test_species_in_no_reaction_is_conserved_alone():
    net = ReactionNetwork.from_text("A -> B ; k", species=["A", "B", "X"])
    assert sorted(map(_key, _as_dicts(net.conservation_laws()))) == [
        (("A", 1), ("B", 1)),
        (("X", 1),),
    ]


def test_printing_with_totals():
    net = ReactionNetwork.from_text(KNOWN["michaelis_menten"][0])
    laws = net.conservation_laws()
    x0 = net.x0({"E": 1.0, "S": 10.0, "ES": 0.5, "P": 2.0})
    assert laws.describe(x0).splitlines() == ["E + ES = 1.5", "S + ES + P = 12.5"]
    np.testing.assert_allclose(np.asarray(laws.totals(x0)), [1.5, 12.5])
    dimer = ReactionNetwork.from_text("2 A <-> A2 ; k, kr").conservation_laws()
    assert str(dimer) == "A + 2 A2"
    none = ReactionNetwork.from_text(KNOWN["open_synthesis_degradation"][0])
    assert "no conservation laws" in none.conservation_laws().describe()


def test_drift_measures_the_largest_deviation():
    net = ReactionNetwork.from_text("X1 + X2 <-> X3 ; kf, kr")
    laws = net.conservation_laws()
    xs = np.array([[1.0, 2.0, 0.0], [0.5, 1.5, 0.5], [0.5, 1.5, 0.75]])
    # x1 + x3: 1, 1, 1.25; x2 + x3: 2, 2, 2.25
    np.testing.assert_allclose(np.asarray(conservation_drift(laws, xs)), [0.25, 0.25])


# --- random networks ------------------------------------------------------------------------


@st.composite
def stoichiometries(draw, max_species=6, max_reactions=7, max_coeff=2):
    n = draw(st.integers(1, max_species))
    m = draw(st.integers(1, max_reactions))
    side = st.lists(st.integers(0, max_coeff), min_size=n, max_size=n)
    A = np.array([draw(side) for _ in range(m)], dtype=np.int64).T
    B = np.array([draw(side) for _ in range(m)], dtype=np.int64).T
    return B - A


def _rank(M: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(M.astype(np.float64))) if M.size else 0


def _cone_spans_nullspace(S: np.ndarray) -> bool:
    """Oracle by brute force over supports: extreme rays of {w >= 0, w^T S = 0} are the
    semi-positive laws whose support T carries a one-dimensional solution space."""
    n = S.shape[0]
    k = n - _rank(S)
    rays = []
    for size in range(1, n + 1):
        for T in itertools.combinations(range(n), size):
            _, sv, vt = np.linalg.svd(S[list(T), :].T.astype(float))  # S has >= 1 column
            if len(T) - int(np.sum(sv > 1e-9)) != 1:
                continue
            w = vt[-1]
            if np.all(w > 1e-9) or np.all(w < -1e-9):
                full = np.zeros(n)
                full[list(T)] = np.abs(w)
                rays.append(full)
    return k == 0 or (len(rays) > 0 and _rank(np.array(rays)) == k)


SETTINGS = settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(stoichiometries())
def test_random_networks_basis_properties(S):
    W, nonneg = left_nullspace_basis(S)
    k = S.shape[0] - _rank(S)
    assert W.dtype == np.int64
    assert W.shape == (k, S.shape[0])
    assert not np.any(W @ S)
    assert _rank(W) == k
    if nonneg:
        assert np.all(W >= 0)
    assert nonneg == _cone_spans_nullspace(S)


@SETTINGS
@given(stoichiometries(max_species=8, max_reactions=8))
def test_exact_and_float_routes_span_the_same_space(S):
    W1, n1 = left_nullspace_basis(S, method="exact")
    W2, n2 = left_nullspace_basis(S, method="float")
    assert n1 == n2
    assert W1.shape == W2.shape
    assert _rank(np.vstack([W1, W2])) == W1.shape[0]


@settings(max_examples=30, derandomize=True, deadline=None)
@given(stoichiometries(max_species=7, max_reactions=6))
def test_linear_programmes_find_extreme_rays(S):
    """Every ray found by the LP route is one of the double-description extreme rays."""
    W, free = _exact_reduced_basis(S)
    if W.shape[0] == 0:
        return
    dd = _extreme_rays(W, free, max_rays=10_000)
    lp, spans = _extreme_rays_by_lp(S, W)
    assert spans == _cone_spans_nullspace(S)
    dd_set = {tuple(r) for r in dd}
    for ray in lp:
        assert tuple(ray) in dd_set


@settings(max_examples=60, derandomize=True, deadline=None)
@given(stoichiometries(max_species=7, max_reactions=6))
def test_linear_programme_route_alone_decides_and_builds_a_nonnegative_basis(S):
    """Without double description (as for large networks): still exact, and non-negative
    exactly when the cone spans the null space."""
    W, nonneg = left_nullspace_basis(S, max_rays=0)  # forces the LP route
    k = S.shape[0] - _rank(S)
    assert W.shape == (k, S.shape[0])
    assert not np.any(W @ S)
    assert _rank(W) == k
    assert nonneg == _cone_spans_nullspace(S)
    if nonneg:
        assert np.all(W >= 0)
        # made of extreme rays (minimal-support laws), as double description finds them
        W_rref, free = _exact_reduced_basis(S)
        extreme = {tuple(r) for r in _extreme_rays(W_rref, free, max_rays=10_000)}
        assert {tuple(w) for w in W} <= extreme


def test_directed_programmes_complete_the_rays():
    """A + B <-> C + D: covering every species takes two rays (e.g. A + C, B + D) but k = 3;
    a programme directed out of their span finds a third extreme ray."""
    net = ReactionNetwork.from_text("A + B <-> C + D ; kf, kr")
    W, nonneg = left_nullspace_basis(net.stoichiometry, max_rays=0)
    assert nonneg and W.shape == (3, 4)
    assert {tuple(w) for w in W} <= {(1, 0, 1, 0), (1, 0, 0, 1), (0, 1, 1, 0), (0, 1, 0, 1)}
    assert _rank(W) == 3


def test_completion_with_positive_combinations():
    """A + B <-> C + D: k = 3 and four extreme rays (A + C, A + D, B + C, B + D). Given only two
    of them, which cover every species, the basis is completed with non-negative combinations."""
    net = ReactionNetwork.from_text("A + B <-> C + D ; kf, kr")
    S = net.stoichiometry
    W, _ = _exact_reduced_basis(S)
    rays = np.array([[1, 0, 1, 0], [0, 1, 0, 1]])
    basis, nonneg = _choose_basis(rays, W, spans=True)
    assert nonneg and np.all(basis >= 0)
    assert not np.any(basis @ S) and _rank(basis) == 3
    # and when the given rays do not cover every species, no false claim is made
    basis, nonneg = _choose_basis(rays[:1], W, spans=True)
    assert not nonneg and _rank(basis) == 3 and not np.any(basis @ S)


def test_moderate_random_network_uses_the_large_network_route():
    """300 species assembled from 6 monomers: 6 laws, the monomer counts (LP route)."""
    rng = np.random.default_rng(3)
    comp = [np.eye(6, dtype=np.int64)[i] for i in range(6)]
    cols = []
    while len(comp) < 300:
        a, b = rng.integers(0, len(comp), size=2)
        comp.append(comp[a] + comp[b])
        col = np.zeros(300, dtype=np.int64)
        col[a] -= 1
        col[b] -= 1
        col[len(comp) - 1] += 1
        cols.append(col)
    S = np.array(cols).T
    W, nonneg = left_nullspace_basis(S)
    assert nonneg
    expected = {tuple(c) for c in np.array(comp).T}
    assert {tuple(w) for w in W} == expected


def test_fill_in_budget_falls_back_to_the_verified_float_route(monkeypatch):
    """With no fill-in allowed, exact elimination gives up and the float route answers."""
    import cellode._networks.conservation as conservation

    net = ReactionNetwork.from_text(MAPK)
    expected = net.conservation_laws().matrix
    calls = []
    original = conservation._float_reduced_basis

    def spy(S):
        calls.append(S.shape)
        return original(S)

    monkeypatch.setattr(conservation, "_FILL_BUDGET_PER_SPECIES", 0)
    monkeypatch.setattr(conservation, "_float_reduced_basis", spy)
    np.testing.assert_array_equal(net.conservation_laws().matrix, expected)
    assert calls == [net.stoichiometry.shape]

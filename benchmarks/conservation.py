"""Conservation laws of large random reaction networks: how long does `conservation_laws` take?

Run:  PYTHONPATH=src python benchmarks/conservation.py [--species 1000] [--reactions 2000]

Two random networks, each with `--species` species and `--reactions` reactions:

* "moiety-K": species are complexes assembled from K monomers (binding A + B -> AB, unbinding,
  and isomerisations between complexes of equal composition), so the 25 monomer counts are
  conserved and form the unique minimal non-negative basis;
* "unstructured": uniformly random uni- and bimolecular reactions (few laws);
* "exchange": random A + B -> C + D (total molecule number conserved; exact elimination fills
  in, so the verified floating-point route runs).

Prints the best of `--repeats` timings of `conservation_laws` (integer basis plus non-negative
basis), the integer-basis stage alone, and for scale a floating-point orthonormal null space
(scipy.linalg.null_space: a dense SVD, neither integer nor non-negative); checks W S == 0
exactly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg

from cellode._networks.conservation import _exact_reduced_basis, left_nullspace_basis


def moiety_network(n_species: int, n_reactions: int, n_monomers: int, seed: int) -> np.ndarray:
    """Stoichiometric matrix of a random assembly network with `n_monomers` conserved moieties."""
    rng = np.random.default_rng(seed)
    comp = [np.eye(n_monomers, dtype=np.int64)[i] for i in range(n_monomers)]
    by_comp: dict[tuple, list[int]] = {tuple(c): [i] for i, c in enumerate(comp)}
    columns: list[dict[int, int]] = []

    def add(col: dict[int, int]) -> None:
        columns.append({s: c for s, c in col.items() if c})

    while len(comp) < n_species:
        a, b = rng.integers(0, len(comp), size=2)
        c = comp[a] + comp[b]
        new = len(comp)
        comp.append(c)
        by_comp.setdefault(tuple(c), []).append(new)
        col = {int(a): -1, int(b): -1}
        col[int(a)] = -2 if a == b else -1
        col[new] = 1
        add(col)
    isomers = [v for v in by_comp.values() if len(v) > 1]
    while len(columns) < n_reactions:
        if isomers and rng.random() < 0.3:
            group = isomers[rng.integers(len(isomers))]
            i, j = rng.choice(group, size=2, replace=False)
            add({int(i): -1, int(j): 1})
        else:
            col = columns[rng.integers(len(columns))]
            add({s: -c for s, c in col.items()})  # the reverse reaction
    S = np.zeros((n_species, len(columns)), dtype=np.int64)
    for j, col in enumerate(columns):
        for s, c in col.items():
            S[s, j] += c
    return S


def unstructured_network(n_species: int, n_reactions: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    S = np.zeros((n_species, n_reactions), dtype=np.int64)
    for j in range(n_reactions):
        for s in rng.choice(n_species, size=rng.integers(1, 3), replace=False):
            S[s, j] -= 1
        for s in rng.choice(n_species, size=rng.integers(0, 3), replace=False):
            S[s, j] += 1
    return S


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def exchange_network(n_species: int, n_reactions: int, seed: int) -> np.ndarray:
    """Random bimolecular exchanges A + B -> C + D: total molecule number is conserved."""
    rng = np.random.default_rng(seed)
    S = np.zeros((n_species, n_reactions), dtype=np.int64)
    for j in range(n_reactions):
        for s in rng.choice(n_species, size=2, replace=False):
            S[s, j] -= 1
        for s in rng.choice(n_species, size=2, replace=False):
            S[s, j] += 1
    return S


def run(name: str, S: np.ndarray, repeats: int) -> None:
    t_total, (W, nonneg) = _best_of(lambda: left_nullspace_basis(S), repeats)
    t_basis, exact = _best_of(
        lambda: _exact_reduced_basis(S, fill_budget=200 * S.shape[0]), repeats
    )
    stage = "exact integer basis" if exact is not None else "exact elimination gave up after"
    t_svd, N = _best_of(lambda: scipy.linalg.null_space(S.T.astype(float)), repeats)
    ok = not np.any(W @ S)
    print(
        f"{name:13s} {S.shape[0]} x {S.shape[1]}: {W.shape[0]} laws "
        f"(float SVD says {N.shape[1]}), non-negative={nonneg}, exact W S == 0: {ok}\n"
        f"{'':13s} conservation_laws {t_total:.2f} s ({stage} {t_basis:.2f} s); "
        f"scipy null_space (float, not integer) {t_svd:.2f} s; ratio {t_total / t_svd:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", type=int, default=1000)
    parser.add_argument("--reactions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    n, m, seed = args.species, args.reactions, args.seed
    run("moiety-25", moiety_network(n, m, 25, seed), args.repeats)
    run("moiety-100", moiety_network(n, m, 100, seed), args.repeats)
    run("unstructured", unstructured_network(n, m, seed), args.repeats)
    run("exchange", exchange_network(n, m, seed), args.repeats)


if __name__ == "__main__":
    main()

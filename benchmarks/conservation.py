"""Conservation laws of large random reaction networks: how long does `conservation_laws` take?

Run:  PYTHONPATH=src python benchmarks/conservation.py [--species 1000] [--reactions 2000]

Two random networks, each with `--species` species and `--reactions` reactions:

* "moiety": species are complexes assembled from 25 monomers (binding A + B -> AB, unbinding,
  and isomerisations between complexes of equal composition), so the 25 monomer counts are
  conserved and form the unique minimal non-negative basis;
* "unstructured": uniformly random uni- and bimolecular reactions (full row rank, no laws).

Prints the timing of each stage and checks the answer exactly (W S = 0, rank, sign).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cellode._networks.conservation import left_nullspace_basis


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


def run(name: str, S: np.ndarray) -> None:
    t0 = time.perf_counter()
    W, nonneg = left_nullspace_basis(S)
    elapsed = time.perf_counter() - t0
    ok = not np.any(W @ S)
    rank = np.linalg.matrix_rank(S.astype(float))
    print(
        f"{name:13s} {S.shape[0]} species x {S.shape[1]} reactions: {W.shape[0]} laws "
        f"(n - rank S = {S.shape[0] - rank}), non-negative={nonneg}, W S == 0: {ok}, "
        f"time {elapsed:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", type=int, default=1000)
    parser.add_argument("--reactions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run("moiety", moiety_network(args.species, args.reactions, 25, args.seed))
    run("unstructured", unstructured_network(args.species, args.reactions, args.seed))


if __name__ == "__main__":
    main()

"""Approximate FAISS indexes (HNSW, IVF) against exact inner-product search: recall@10 and speed-up.

Item tables are synthetic, shaped like a trained recommender's: items in 1,000 taste clusters (a cluster centre
plus noise) with a popularity direction in their norms; user vectors near a mixture of two or three centres. The
same `lmrec.serve.index.FaissIndex` the service builds (`lmrec serve --faiss-index hnsw|ivf`) is searched for the
top 10 of 2,000 queries, one query per call (a served request) and in batches of 32 (coalesced requests); recall@10
is the share of the exact top 10 the index returns. One thread for every index.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ann_recall.py --items 100000,1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from lmrec.provenance import environment
from lmrec.serve.index import FaissIndex

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n_items: int, n_queries: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    members = rng.integers(0, len(centres), n_items)
    items = centres[members] + 0.7 * rng.normal(size=(n_items, dim)).astype(np.float32)
    items *= (1.0 + 0.3 * rng.pareto(3.0, n_items))[:, None].astype(np.float32)  # popular items: longer vectors
    mix = rng.integers(0, len(centres), (n_queries, 3))
    queries = centres[mix].mean(axis=1) + 0.5 * rng.normal(size=(n_queries, dim)).astype(np.float32)
    return np.ascontiguousarray(items, np.float32), np.ascontiguousarray(queries, np.float32)


def timed_search(index: FaissIndex, queries: np.ndarray, batch: int, k: int = 10) -> tuple[np.ndarray, float]:
    """(ids [Q, k], ms per query)."""
    found = []
    started = time.perf_counter()
    for start in range(0, len(queries), batch):
        found.append(index.search(queries[start : start + batch], k)[1])
    return np.concatenate(found), (time.perf_counter() - started) / len(queries) * 1000


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth,
                                                                                          strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="100000,1000000")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/ann_recall.md")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    load = os.getloadavg()
    lines = ["# Approximate FAISS indexes vs exact search", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/ann_recall.py {' '.join(sys.argv[1:])}`; "
             f"{os.cpu_count()} cores, load average before {load[0]:.2f}; faiss {faiss.__version__}, 1 thread; "
             f"dim {args.dim}, {args.queries} queries, top 10; `lmrec.serve.index.FaissIndex` with its defaults "
             "(HNSW M 32, efSearch 128; IVF sqrt(N) cells, nprobe 64). Synthetic tables (see the script).", "",
             "| items | index | build (s) | recall@10 | ms/query (1 at a time) | speed-up | ms/query (batches of 32) "
             "| speed-up |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for n in (int(v) for v in args.items.split(",")):
        items, queries = synthetic(n, args.queries, args.dim)
        base: dict[int, float] = {}
        truth = None
        for kind in ("flat", "hnsw", "ivf"):
            started = time.perf_counter()
            index = FaissIndex(items, kind)
            build = time.perf_counter() - started
            one_ids, one_ms = timed_search(index, queries, 1)
            _, batch_ms = timed_search(index, queries, 32)
            if kind == "flat":
                truth, base = one_ids, {1: one_ms, 32: batch_ms}
            lines.append(f"| {n:,} | {kind} | {build:.1f} | {recall(one_ids, truth):.4f} | {one_ms:.3f} | "
                         f"{base[1] / one_ms:.1f}x | {batch_ms:.3f} | {base[32] / batch_ms:.1f}x |")
            print(lines[-1], flush=True)
            del index
    lines += ["", f"Versions: {environment()['versions']}"]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

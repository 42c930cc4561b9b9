"""Memory and time of a full evaluation: 10k users x 100k items through lmrec.eval.evaluate, single thread.

    OMP_NUM_THREADS=1 .venv/bin/python bench/eval_memory.py [--users 10000] [--items 100000] [--dim 64]

Synthetic data: each user has a history of ~20 random items (uniform 10..30) and one held-out target outside
it; the model is a dot product of [n_items, dim] item factors with the mean factor of the history. All of
evaluate() runs: batched scoring, masking, top-k, target ranks, six metrics at two cut-offs plus AUC, 1000
bootstrap resamples per metric, coverage / Gini / novelty / ARP / ILD. Reports wall time and peak RSS
(ru_maxrss) and writes a markdown result file. Target: peak RSS < 4 GiB.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's lmrec, whatever the cwd
from lmrec.data.split import Holdout  # noqa: E402
from lmrec.data.types import Histories, Interactions, Sequences  # noqa: E402
from lmrec.eval import EvalOptions, evaluate  # noqa: E402
from lmrec.eval.ranking import default_batch_size  # noqa: E402
from lmrec.provenance import environment  # noqa: E402


class MeanFactorModel:
    """score(h) = mean(item_factors[h]) @ item_factors.T : [B, n_items]."""

    def __init__(self, item_factors: np.ndarray) -> None:
        self.factors = torch.from_numpy(item_factors)

    def score(self, histories: Histories) -> torch.Tensor:
        seq = torch.from_numpy(histories.seq)
        mask = torch.from_numpy(histories.mask).unsqueeze(-1)  # [B, L, 1]
        vectors = self.factors[seq.clamp(min=0)] * mask  # [B, L, D]
        users = vectors.sum(1) / torch.from_numpy(histories.lengths).clamp(min=1).unsqueeze(-1)  # [B, D]
        return users @ self.factors.T  # [B, N]


def synthetic(n_users: int, n_items: int, dim: int, seed: int) -> tuple[Holdout, Interactions, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(10, 31, size=n_users)
    items = rng.integers(0, n_items, size=int(lengths.sum()))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    inputs = Sequences(indptr, items.astype(np.int64))
    targets = rng.integers(0, n_items, size=n_users)
    for u in range(n_users):  # redraw the few targets that landed inside their history
        while targets[u] in items[indptr[u]:indptr[u + 1]]:
            targets[u] = rng.integers(0, n_items)
    holdout = Holdout(np.arange(n_users), inputs, Sequences(np.arange(n_users + 1, dtype=np.int64),
                                                            targets.astype(np.int64)))
    owner = np.repeat(np.arange(n_users), lengths)
    train = Interactions(owner, items, np.zeros(len(items), np.int64), n_users=n_users, n_items=n_items)
    factors = rng.standard_normal((n_items, dim), dtype=np.float32) / np.sqrt(dim)
    return holdout, train, factors


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_memory.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    holdout, train, factors = synthetic(args.users, args.items, args.dim, args.seed)
    rss_data = rss_mib()
    options = EvalOptions(ks=(10, 20), seed=args.seed)
    started = time.perf_counter()
    result = evaluate(MeanFactorModel(factors), holdout, n_items=args.items, options=options, train=train,
                      item_vectors=factors)
    seconds = time.perf_counter() - started
    peak = rss_mib()
    env = environment()
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/eval_memory.py", *sys.argv[1:]])
    keys = ["hr@10", "ndcg@10", "recall@20", "auc", "coverage@10", "gini@10", "novelty@10", "ild@10"]
    lines = [
        "# Evaluation memory benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Synthetic data (seed {args.seed}): {args.users} users x {args.items} items, histories uniform "
        f"10..30 random items ({len(train)} in all), one target per user outside its history; model: mean of "
        f"history item factors dotted with [{args.items}, {args.dim}] float32 item factors. evaluate() with "
        f"{options}, train counts and item vectors given (all beyond-accuracy metrics on).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall time of evaluate() | {seconds:.1f} s |",
        f"| peak RSS (ru_maxrss, whole process) | {peak:.0f} MiB ({peak / 1024:.2f} GiB) |",
        f"| peak RSS before evaluate() (imports, data, model) | {rss_data:.0f} MiB |",
        f"| batch size (auto) | {default_batch_size(args.items)} users |",
        f"| evaluated users / dropped targets | {result.n_users} / {result.dropped_targets} |",
        f"| target (< 4 GiB peak RSS) | {'met' if peak < 4096 else 'MISSED'} |",
        "",
        "Metrics (a sanity check that everything ran; the model is random): "
        + ", ".join(f"{k} {result.metrics[k]:.4f}" for k in keys if k in result.metrics),
        "",
        f"Threads: torch {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores visible.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + f"; {env['platform']}",
        "",
    ]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

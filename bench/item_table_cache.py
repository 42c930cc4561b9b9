"""score() latency of a fused sequence model for one history, with the item-table cache off and on.

A text or fused model's item vectors come from an adapter over every item's text vector; before the cache every
`score` call (every served request batch) ran it over the whole catalogue. The model here has MiniLM-wide text
vectors (384) through the default adapter, random weights (latency does not depend on them), catalogues of the
given sizes; rounds alternate off/on in one process, one torch thread.

    OMP_NUM_THREADS=1 .venv/bin/python bench/item_table_cache.py --items 1682,20000,100000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.data.types import Histories
from lmrec.models.registry import create_model
from lmrec.models.sequence.module import SequenceModule
from lmrec.provenance import environment

ROOT = Path(__file__).resolve().parents[1]


def latency(n_items: int, rounds: int, calls: int) -> dict[str, float]:
    model = create_model("sasrec-fused", {"encoder": {"kind": "tfidf", "cache": False}})
    model.n_items_ = n_items
    torch.manual_seed(0)
    model.module_ = SequenceModule.build(model.config, n_items, torch.randn(n_items, 384)).eval()
    history = Histories.from_lists([[1, 2, 3, 4, 5]])
    key = SequenceModule._table_key
    times: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for _ in range(rounds):
            for mode in ("off", "on"):
                SequenceModule._table_key = (lambda self: None) if mode == "off" else key
                model.module_._table_cache = None
                model.score(history)
                started = time.perf_counter()
                for _ in range(calls):
                    model.score(history)
                times[mode].append((time.perf_counter() - started) / calls * 1000)
    finally:
        SequenceModule._table_key = key
    return {mode: float(np.median(values)) for mode, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="1682,20000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/item_table_cache.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()
    lines = ["# Item-table cache: score() latency of a fused model, one history", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/item_table_cache.py {' '.join(sys.argv[1:])}`; "
             f"{os.cpu_count()} cores, load average before {load[0]:.2f}; torch {environment()['versions']['torch']}"
             ", 1 thread; sasrec-fused (dim 64, MLP adapter) over 384-wide text vectors; median of "
             f"{args.rounds} alternating rounds of {args.calls} calls.", "",
             "| items | cache off (ms per call) | cache on (ms per call) | speed-up |", "|---:|---:|---:|---:|"]
    for n in (int(v) for v in args.items.split(",")):
        result = latency(n, args.rounds, args.calls)
        lines.append(f"| {n:,} | {result['off']:.2f} | {result['on']:.2f} | {result['off'] / result['on']:.1f}x |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Item encoding on Ray Data against the single-process encoder: the 100,000-item catalogue of `lmrec synth`
(templated titles and descriptions), all-MiniLM-L6-v2 float32, no cache; the vectors of each Ray run compared row
by row (cosine) with the single-process ones, and throughput against the number of workers. Writes
bench/results/ray_encode.md.

    .venv/bin/python bench/ray_encode.py --items 100000 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report_file import write_keeping_notes  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def encode(items: Path, out: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds, the encoding seconds lmrec reports) of one `lmrec encode`."""
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "lmrec"), "encode", "--items", str(items), "--out", str(out), "--no-cache",
                           *extra], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"lmrec encode {' '.join(extra)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    seconds = float(re.search(r" in ([0-9.]+)s", done.stdout).group(1))
    return time.perf_counter() - started, seconds


def cosines(a: Path, b: Path) -> np.ndarray:
    x, y = np.load(a), np.load(b)
    assert x["ids"].tolist() == y["ids"].tolist(), "rows differ"
    u, v = x["vectors"], y["vectors"]
    return (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ray_encode.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lmrec-ray-encode-"))
    subprocess.run([str(BIN / "lmrec"), "synth", "--events", str(args.items), "--items", str(args.items),
                    "--out", str(work / "synth")], check=True, capture_output=True)
    items = work / "synth" / "items.csv"
    rows = []
    wall, seconds = encode(items, work / "single.npz", "--batch-size", "64")
    rows.append({"label": "this process, 2 torch threads", "workers": 0, "wall_s": wall, "encode_s": seconds,
                 "cos_min": 1.0, "cos_mean": 1.0})
    print(rows[-1], flush=True)
    for workers in args.workers:
        out = work / f"ray{workers}.npz"
        wall, seconds = encode(items, out, "--batch-size", "64", "--workers", str(workers))
        found = cosines(work / "single.npz", out)
        rows.append({"label": f"Ray Data, {workers} actor(s) x 1 thread", "workers": workers, "wall_s": wall,
                     "encode_s": seconds, "cos_min": float(found.min()), "cos_mean": float(found.mean())})
        print(rows[-1], flush=True)
    write_report(args, rows, load_before)
    shutil.rmtree(work, ignore_errors=True)


def write_report(args, rows: list[dict], load_before) -> None:  # noqa: ANN001
    load_after = os.getloadavg()
    lines = ["# Item encoding on Ray Data", "",
             f"Command: `.venv/bin/python bench/ray_encode.py {' '.join(sys.argv[1:])}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; load average "
             f"before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
             f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}  ",
             f"Data: the items.csv of `lmrec synth --events {args.items} --items {args.items}` ({args.items:,} "
             "templated item texts); all-MiniLM-L6-v2, float32, max length 128, batches of 64 texts, no vector "
             "cache. Encoding seconds are lmrec's own (Ray start-up included for the Ray rows); wall adds process "
             "start, reading the file and writing the vectors. Cosine: each item's Ray vector against its "
             "single-process vector.", "",
             "| path | encoding s | items/s | wall s | cosine min | cosine mean |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['label']} | {row['encode_s']:.0f} | {args.items / row['encode_s']:.0f} | "
                     f"{row['wall_s']:.0f} | {row['cos_min']:.6f} | {row['cos_mean']:.6f} |")
    lines.append("")
    write_keeping_notes(args.out, "\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "command": sys.argv}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

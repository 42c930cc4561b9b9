"""TrainableTextEncoder cost on MovieLens-100K titles: one forward+backward step (LoRA / full, float32 / bf16
autocast) and encode_all over the whole catalogue, 1 thread.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/lm_encoder_step.py

Writes bench/results/lm_encoder_step.md. A step is: forward of `--batch` distinct item indices (random, fixed
seed), a loss on their vectors, backward; the optimiser update (Adam) is timed separately. Each figure is the
median of `--repeats` runs after one warm-up; encode_all runs once, warm. cpu/wall near 1 means the process had
its core to itself; under contention the cpu-seconds column is the steadier one.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from lmrec.data.sources import load_dataset  # noqa: E402
from lmrec.text import EncoderConfig, SentenceEncoder  # noqa: E402
from lmrec.text.trainable import TrainableTextEncoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lm_encoder_step.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    started, load_before = time.perf_counter(), os.getloadavg()

    texts = load_dataset("ml-100k", data_dir=args.data_dir, download=False).catalog.texts(None)
    items = torch.randperm(len(texts))[: args.batch]
    steps, encodes = [], []
    for mode in ("lora", "full"):
        encoder = TrainableTextEncoder(texts, EncoderConfig(cache=False), mode=mode)
        lengths = encoder._lengths[items].float()  # noqa: SLF001 - the batch's token lengths, for the table
        optimiser = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=1e-5)
        encoder.train()
        for bf16 in (False, True):
            wall, cpu = timed(lambda e=encoder, b=bf16: forward_backward(e, items, b), args.repeats)
            update, _ = timed(optimiser.step, args.repeats)
            steps.append({"mode": mode, "precision": "bf16 autocast" if bf16 else "float32", "wall": wall,
                          "cpu": cpu, "cpu_wall": cpu / wall, "update": update})
            print(f"step {mode:4s} {steps[-1]['precision']:13s} fwd+bwd {wall:6.3f} s  (cpu/wall {cpu / wall:.2f})"
                  f"  adam {update * 1000:5.0f} ms", flush=True)
            optimiser.zero_grad(set_to_none=True)
        trained, total = encoder.parameter_counts()
        steps[-1]["params"] = steps[-2]["params"] = f"{trained:,} / {total:,} ({100 * trained / total:.2f} %)"
        encoder.eval()
        cases = [(f"{mode}", encoder)] + ([("lora merged", encoder.merged())] if mode == "lora" else [])
        for label, model in cases:
            wall, cpu = timed(lambda m=model: m.encode_all(), 1, warm_up=False)  # warm from the steps
            encodes.append({"what": f"TrainableTextEncoder {label}", "wall": wall, "cpu": cpu, "cpu_wall": cpu / wall})
            print(f"encode_all {label:12s} {wall:6.3f} s", flush=True)
    base = SentenceEncoder(EncoderConfig(cache=False))
    base.encode(texts[:64], batch_size=64)  # load + warm up
    wall, cpu = timed(lambda: base.encode(texts, batch_size=256), 1, warm_up=False)
    encodes.append({"what": "SentenceEncoder.encode (encode_catalog path, batch 256)", "wall": wall, "cpu": cpu,
                    "cpu_wall": cpu / wall})
    print(f"SentenceEncoder.encode {wall:6.3f} s", flush=True)
    report = render(args, len(texts), lengths, steps, encodes, load_before, os.getloadavg(),
                    time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)


def forward_backward(encoder: TrainableTextEncoder, items: torch.Tensor, bf16: bool) -> None:
    """A loss touching every vector (in-batch softmax over the batch's own similarities), then backward."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        vectors = encoder(items)
        logits = vectors @ vectors.roll(1, dims=0).T * 20.0
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(items)))
    loss.backward()


def timed(run: Callable[[], object], repeats: int, *, warm_up: bool = True) -> tuple[float, float]:
    """(median wall, median cpu) seconds of `repeats` runs, after one warm-up run unless told otherwise."""
    if warm_up:
        run()
    walls, cpus = [], []
    for _ in range(repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return statistics.median(walls), statistics.median(cpus)


def render(args: argparse.Namespace, n_items: int, lengths: torch.Tensor, steps: list[dict], encodes: list[dict],
           load_before: tuple, load_after: tuple, runtime: float) -> str:
    command = ("HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/lm_encoder_step.py "
               + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    lines = [
        "# TrainableTextEncoder: fine-tuning step and encode_all cost (all-MiniLM-L6-v2, CPU, 1 thread)",
        "",
        f"Command: `{command.strip()}`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; runtime {runtime:.0f} s  ",
        f"Data: MovieLens-100K titles (`catalog.texts(None)`: title + genres), {n_items:,} items; step batch "
        f"{args.batch} distinct random items, tokens per text mean {float(lengths.mean()):.1f}, max "
        f"{int(lengths.max())} (max_tokens 64; a batch is trimmed to its longest text).  ",
        "Step = forward + in-batch softmax loss + backward (median of "
        f"{args.repeats} after a warm-up); Adam update timed separately. LoRA r=8, alpha 16 on "
        "query/key/value/dense; the model's dropout is on (train mode).",
        "",
        "| mode | precision | fwd+bwd wall (s) | cpu (s) | items/s (wall) | Adam update (ms) | cpu/wall "
        "| trainable / total params |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in steps:
        lines.append(f"| {r['mode']} | {r['precision']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                     f"{args.batch / r['wall']:.0f} | "
                     f"{1000 * r['update']:.0f} | {r['cpu_wall']:.2f} | {r.get('params', '')} |")
    lines += ["", f"encode_all over all {n_items:,} items (eval mode, no grad, float32, batches of 256 sorted by "
              "length; one run each, warm), against the plain encoder:", "",
              "| what | wall (s) | cpu (s) | items/s (wall) | cpu/wall |", "|---|---:|---:|---:|---:|"]
    for r in encodes:
        lines.append(f"| {r['what']} | {r['wall']:.2f} | {r['cpu']:.2f} | {n_items / r['wall']:.0f} | "
                     f"{r['cpu_wall']:.2f} |")
    lines += [
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, bf16 native: "
        f"{torch.cpu._is_avx512_bf16_supported()}; load average {load_before[0]:.2f} before, "  # noqa: SLF001
        f"{load_after[0]:.2f} after (another engineer's jobs share the 2 cores).  ",
        f"Versions: python {platform.python_version()}, torch {torch.__version__}, transformers "
        f"{version('transformers')}, peft {version('peft')}, sentence-transformers {version('sentence-transformers')}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

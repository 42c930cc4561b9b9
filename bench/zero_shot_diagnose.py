"""Why zero-shot transfer scores below plain text similarity: probes of a zero-shot run on its own test users.

The pre-trained text model (sasrec-text, MoE adapter, `lmrec pretrain` on a source catalogue) is applied to a
target it never saw (`lmrec zero-shot`). The probes below score the same test users with full ranking, every item
of the user's whole history masked, and change one thing each:

- model              the zero-shot model as shipped (the last max_len items of each history)
- model, last L      the same model reading only the last L items: positions far from the end are trained only
                     by sources whose users have long histories; a short-history source leaves them random
- adapter mean       no sequence net: the mean of the history's adapted item vectors . each adapted item vector
                     (is the adapter's item space still good on the target, or is the net the problem?)
- text similarity    lm-content's scoring on the raw LM vectors (the bar to reach)

    LMREC_DATA_DIR=../shared/data python bench/zero_shot_diagnose.py --out bench/results/zero-shot-diagnosis
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from cli_steps import lmrec  # bench/ is on sys.path when run as a script

from lmrec.data.types import Histories
from lmrec.metrics import hit_matrix, ndcg
from lmrec.models.base import mask_seen
from lmrec.pipeline.load import load_run

ROOT = Path(__file__).resolve().parents[1]


def ndcg_at_10(scores: torch.Tensor, full: Histories, targets) -> np.ndarray:
    """Per-user NDCG@10 with every item of the user's whole history masked."""
    ranked = torch.topk(mask_seen(scores.float().clone(), full), 10, dim=1).indices.numpy()
    return ndcg(hit_matrix(ranked, targets.indptr, targets.items, 10), targets.lengths, 10)


def last(histories: Histories, length: int) -> Histories:
    return Histories.from_lists([row[max(0, n - length):n].tolist() for row, n in
                                 zip(histories.seq, histories.lengths, strict=True)])


def probes(run_dir: Path, lengths: tuple[int, ...]) -> dict[str, float]:
    run = load_run(run_dir)
    model, test = run.model, run.split.test
    full, targets = test.inputs.histories(np.arange(len(test))), test.targets
    module = model.module_.eval()
    out: dict[str, float] = {"model": float(ndcg_at_10(model.score(full), full, targets).mean())}
    for length in lengths:
        out[f"model, last {length}"] = float(ndcg_at_10(model.score(last(full, length)), full, targets).mean())
    with torch.inference_mode():
        table = module.item_table()  # adapted item vectors [N, D]
        text = module.text_part.text_vectors  # raw LM vectors [N, T]
        index = torch.from_numpy(np.clip(full.seq, 0, None))
        weights = torch.from_numpy(full.mask.astype(np.float32)).unsqueeze(-1)
        adapted = (weights * table[index]).sum(1) / weights.sum(1).clamp(min=1)
        out["adapter mean"] = float(ndcg_at_10(adapted @ table.T, full, targets).mean())
        profile = torch.nn.functional.normalize((weights * text[index]).sum(1), dim=1)
        raw = torch.nn.functional.normalize(text, dim=1)
        out["text similarity"] = float(ndcg_at_10(profile @ raw.T, full, targets).mean())
    lengths_seen = test.inputs.lengths
    out["target history length median"] = float(np.median(lengths_seen))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/zero-shot-diagnosis")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lengths", default="1,3,5,10,20")
    args = parser.parse_args()
    runs, data = (args.out / "runs").resolve(), args.data.resolve()
    office = ["--interactions", str(data / "amazon-office-2014/interactions.csv"),
              "--items", str(data / "amazon-office-2014/items.csv"), "--order-col", "seq"]
    checkpoint, run = runs / "pre-office", runs / "zs-office-ml-100k"
    if not (checkpoint / "meta.json").is_file():
        lmrec("pretrain", *office, "--out", str(checkpoint), threads=args.threads)
    if not (run / "metrics.json").is_file():
        lmrec("zero-shot", str(checkpoint), "--dataset", "ml-100k", "--data-dir", str(data), "--out", str(run),
              threads=args.threads)
    torch.set_num_threads(args.threads)
    found = probes(run, tuple(int(v) for v in args.lengths.split(",")))
    source = json.loads((checkpoint / "meta.json").read_text())["sources"][0]
    lines = ["# Zero-shot diagnosis: Office -> MovieLens-100K", "",
             f"Command: `python {' '.join(sys.argv)}`. Pre-trained sasrec-text (MoE adapter) on amazon-office "
             f"(median {source['interactions_per_user_median']:.0f} events per user); target ml-100k test users "
             f"(median history {found.pop('target history length median'):.0f} items), full ranking, whole "
             "history masked.", "", "| probe | NDCG@10 |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in found.items()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps(found, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

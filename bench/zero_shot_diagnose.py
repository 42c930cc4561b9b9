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

    LMREC_DATA_DIR=../shared/data python bench/zero_shot_diagnose.py --pair office-ml-100k|office-transfer
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


def profile(vectors: torch.Tensor, histories: Histories, decay: float) -> torch.Tensor:
    """[B, D] history profile: the item vectors weighted decay**j (j = positions before the last)."""
    age = histories.lengths[:, None] - 1 - np.arange(histories.seq.shape[1])[None, :]
    weights = torch.from_numpy(np.where(histories.mask, decay ** np.maximum(age, 0), 0.0).astype(np.float32))
    index = torch.from_numpy(np.clip(histories.seq, 0, None))
    return (weights.unsqueeze(-1) * vectors[index]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-9)


def probes(run_dir: Path, lengths: tuple[int, ...], decay: float) -> dict[str, dict[str, float]]:
    """{probe: {history read: NDCG@10}}."""
    run = load_run(run_dir)
    model, test = run.model, run.split.test
    full, targets = test.inputs.histories(np.arange(len(test))), test.targets
    module = model.module_.eval()
    with torch.inference_mode():
        table = module.item_table()  # adapted item vectors [N, D]: what the net reads and scores against
        raw = torch.nn.functional.normalize(module.text_part.text_vectors, dim=1)  # the LM's vectors [N, T]
    reads = {f"last {n}": last(full, n) for n in lengths} | {"all (max_len)": full}
    out: dict[str, dict[str, float]] = {"sequence net (the zero-shot model)": {}, "adapter, mean": {},
                                        "LM text similarity, mean": {}}
    for read, histories in reads.items():
        with torch.inference_mode():
            out["sequence net (the zero-shot model)"][read] = float(ndcg_at_10(model.score(histories), full,
                                                                               targets).mean())
            out["adapter, mean"][read] = float(ndcg_at_10(profile(table, histories, 1.0) @ table.T, full,
                                                          targets).mean())
            text = torch.nn.functional.normalize(profile(raw, histories, 1.0), dim=1) @ raw.T
            out["LM text similarity, mean"][read] = float(ndcg_at_10(text, full, targets).mean())
    with torch.inference_mode():
        out["adapter, recency-weighted"] = {"all (max_len)": float(ndcg_at_10(
            profile(table, full, decay) @ table.T, full, targets).mean())}
        text = torch.nn.functional.normalize(profile(raw, full, decay), dim=1) @ raw.T
        out["LM text similarity, recency-weighted (lm-content)"] = {"all (max_len)": float(ndcg_at_10(
            text, full, targets).mean())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/zero-shot-<pair>")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lengths", default="1,3,5,10,20")
    parser.add_argument("--decay", type=float, default=0.7)
    parser.add_argument("--pair", choices=("office-ml-100k", "office-transfer"), default="office-ml-100k",
                        help="source -> target: amazon-office -> ml-100k, or bench/transfer_office.py's split")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / f"zero-shot-{args.pair}"
    runs, data = (args.out / "runs").resolve(), args.data.resolve()
    office = ["--interactions", str(data / "amazon-office-2014/interactions.csv"),
              "--items", str(data / "amazon-office-2014/items.csv"), "--order-col", "seq"]
    if args.pair == "office-ml-100k":
        source, target = office, ["--dataset", "ml-100k", "--data-dir", str(data)]
    else:  # the transfer split of bench/transfer_office.py: Office users A x categories A -> users B x categories B
        from transfer_office import partition

        split = runs / "data"
        partition(data / "amazon-office-2014", split, 0)
        source = ["--interactions", str(split / "source.csv"), "--items", str(split / "source_items.csv"),
                  "--order-col", "seq"]
        target = ["--interactions", str(split / "target.csv"), "--items", str(split / "target_items.csv"),
                  "--order-col", "seq"]
    checkpoint, run, content = runs / "pretrained", runs / "zero-shot", runs / "lm-content"
    if not (checkpoint / "meta.json").is_file():
        lmrec("pretrain", *source, "--out", str(checkpoint), threads=args.threads)
    if not (run / "metrics.json").is_file():
        lmrec("zero-shot", str(checkpoint), *target, "--set", "model.priors=", "--out", str(run),
              threads=args.threads)  # the net alone: the probes are about what it loses
    if not (content / "metrics.json").is_file():  # lm-content itself on the target, for the record
        lmrec("fit", "--model", "lm-content", *target, "--out", str(content), threads=args.threads)
        lmrec("evaluate", str(content), "-k", "10", threads=args.threads)
    torch.set_num_threads(args.threads)
    lengths = tuple(int(v) for v in args.lengths.split(","))
    found = probes(run, lengths, args.decay)
    stats = json.loads((checkpoint / "meta.json").read_text())["sources"][0]
    test = load_run(run).split.test
    measured = json.loads((content / "metrics.json").read_text())["test"]["ndcg@10"]
    reads = [f"last {n}" for n in lengths] + ["all (max_len)"]
    title = {"office-ml-100k": "Office -> MovieLens-100K", "office-transfer": "Office A -> Office B"}[args.pair]
    lines = [f"# Zero-shot diagnosis: {title}", "",
             f"Command: `python bench/zero_shot_diagnose.py {' '.join(sys.argv[1:])}`. sasrec-text (MoE adapter) "
             f"pre-trained on the source (median {stats['interactions_per_user_median']:.0f} events per user), "
             f"applied zero-shot to the target's {len(test)} test users (median history "
             f"{np.median(test.inputs.lengths):.0f} items); NDCG@10, full ranking, the whole history masked in "
             f"every probe; recency weight {args.decay}**j for the item j positions before the last (lm-content's "
             f"default). `lmrec fit --model lm-content` on the target, evaluated as usual: {measured:.4f}.", "",
             "| probe | " + " | ".join(reads) + " |", "|---|" + "---|" * len(reads)]
    for name, row in found.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[r]:.4f}" if r in row else "" for r in reads) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps(found, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

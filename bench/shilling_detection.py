"""The shilling detector alone, without retraining: precision and recall on each attack kind when the detector's
simulations include that kind (the known-attack setting) and when they leave it out (an attack it has never
seen), plus its flags on the clean log (false positives).

    LMREC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python bench/shilling_detection.py --dataset ml-100k

Prints a markdown table (copied into bench/results/robustness/README.md).
"""

from __future__ import annotations

import argparse

from lmrec.data.config import DataConfig, load_data
from lmrec.data.split import make_split
from lmrec.eval.detection import ShillingDetector
from lmrec.eval.shilling import ATTACKS, ShillingAttack, choose_targets, inject


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--interactions", help="instead of --dataset: an interactions file")
    parser.add_argument("--order-col")
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = (DataConfig(interactions=args.interactions, order_col=args.order_col) if args.interactions
              else DataConfig(dataset=args.dataset))
    train = make_split(load_data(config)).train
    targets = choose_targets(train, 5, seed=args.seed)
    clean = ShillingDetector(seed=args.seed + 1, share=args.share).fit(train).detect(train)
    print(f"{args.interactions or args.dataset}: {train.n_users} users; clean log: {len(clean.flagged)} flagged\n")
    print("| attack | fakes | known attack: P / R | attack left out of the simulations: P / R |\n|---|---:|---|---|")
    for kind in ATTACKS:
        poisoned, fakes = inject(train, ShillingAttack(kind, targets, args.share), seed=args.seed)
        known = ShillingDetector(seed=args.seed + 1, share=args.share).fit(poisoned).detect(poisoned)
        others = tuple(k for k in ATTACKS if k != kind)
        unseen = ShillingDetector(seed=args.seed + 1, share=args.share, kinds=others).fit(poisoned).detect(poisoned)
        a, b = known.precision_recall(fakes), unseen.precision_recall(fakes)
        print(f"| {kind} | {len(fakes)} | {a['precision']:.2f} / {a['recall']:.2f} | {b['precision']:.2f} / "
              f"{b['recall']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

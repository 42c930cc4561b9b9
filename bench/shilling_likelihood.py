"""Is a sequence model's likelihood a usable shilling detector? For each attack, inject 1 % fake profiles into
ml-100k's training split, train SASRec on the poisoned data, and compare the robust z-score of each profile's
surprise (minus its mean next-item log-likelihood, `SequenceLikelihood`) for the fakes against the real users'
percentiles. (Answer measured 2026-12-03: no; the model has memorised the profiles it was trained on.)

    LMREC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python bench/shilling_likelihood.py --epochs 10
"""

from __future__ import annotations

import argparse

import numpy as np

from lmrec.data.config import DataConfig, load_data
from lmrec.data.split import make_split
from lmrec.eval.shilling import ATTACKS, ShillingAttack, choose_targets, inject
from lmrec.models.registry import create_model


def robust_z(values: np.ndarray) -> np.ndarray:
    median = np.nanmedian(values)
    return (values - median) / (1.4826 * np.nanmedian(np.abs(values - median)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    split = make_split(load_data(DataConfig(dataset=args.dataset)))
    targets = choose_targets(split.train, 5, seed=0)
    print("| attack | fakes' surprise z (sorted) | real users' z at 90 / 99 / 99.9 % |\n|---|---|---|")
    for kind in ATTACKS:
        poisoned, fakes = inject(split.train, ShillingAttack(kind, targets), seed=0)
        model = create_model("sasrec", {"train": {"epochs": args.epochs, "threads": 1}})
        model.fit(poisoned, valid=split.valid)
        z = robust_z(-model.log_likelihood(poisoned.sequences()))
        real = np.setdiff1d(np.arange(poisoned.n_users), fakes)
        print(f"| {kind} | {np.round(np.sort(z[fakes]), 1).tolist()} | "
              f"{' / '.join(f'{v:.1f}' for v in np.nanpercentile(z[real], [90, 99, 99.9]))} |", flush=True)


if __name__ == "__main__":
    main()

"""Shilling attacks inject the profiles they promise (count, filler, targets last); target exposure counts
only users who could be shown a target; the detector, trained on simulated attacks, finds injected profiles in
real data and leaves a clean log alone."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.config import DataConfig, load_data
from lmrec.data.split import make_split
from lmrec.errors import ConfigError
from lmrec.eval.detection import ShillingDetector
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.eval.shilling import ATTACKS, ShillingAttack, choose_targets, inject, target_exposure, target_rank
from lmrec.models.registry import create_model
from lmrec.testing.toy import block_data


@pytest.fixture(scope="module")
def data():
    return block_data(n_blocks=4, users_per_block=50, items_per_block=15, items_per_user=8, seed=0)


@pytest.mark.parametrize("kind", ATTACKS)
def test_each_attack_adds_share_of_users_ending_with_every_target(kind, data) -> None:
    train = data.split.train
    targets = choose_targets(train, 3, seed=0)
    counts = np.bincount(train.item, minlength=train.n_items)
    assert all(counts[t] <= np.median(counts[counts > 0]) for t in targets)  # promoted items are not hits
    poisoned, fakes = inject(train, ShillingAttack(kind, targets, share=0.05, filler=6), seed=0)
    assert len(fakes) == round(0.05 * train.n_users) and poisoned.n_users == train.n_users + len(fakes)
    added = len(poisoned) - len(train)
    assert added == len(fakes) * (6 + 3) if kind != "sequence" else 3 * len(fakes) < added <= len(fakes) * 9
    sequences = poisoned.sequences()
    for user in fakes:
        row = sequences.row(int(user))
        assert sorted(row[-3:].tolist()) == list(targets) and not set(row[:-3]) & set(targets)
    assert np.array_equal(poisoned.select(np.flatnonzero(poisoned.user < train.n_users)).item, train.item)


def test_bad_attacks_are_refused(data) -> None:
    with pytest.raises(ConfigError, match="not one of"):
        ShillingAttack("sybil", (1,))
    with pytest.raises(ConfigError, match="share"):
        ShillingAttack("random", (1,), share=1.5)


def test_exposure_is_the_targets_hit_rate_over_users_who_have_not_seen_them(data) -> None:
    model = create_model("pop").fit(data.split.train)
    result = evaluate(model, data.split.test, n_items=data.split.train.n_items, options=EvalOptions(ks=(10,)))
    counts = np.bincount(data.split.train.item, minlength=data.split.train.n_items)
    top, bottom = int(np.argmax(counts)), int(np.argmin(counts))
    exposure = target_exposure(result.ranking, data.split.test, (top, bottom))
    owners = [int(r) for r in result.ranking.rows if top in data.split.test.inputs.row(int(r))]
    assert exposure[str(top)] == 1.0 and len(owners) < len(result.ranking)  # every user who can see it, does
    assert exposure[str(bottom)] == 0.0 and exposure["mean"] == 0.5
    assert target_rank(model, data.split.test, (top,)) == 0.0  # first for everyone who has not seen it
    assert target_rank(model, data.split.test, (bottom,)) > 0.9


def test_the_detector_finds_injected_profiles_in_real_data(shared_data) -> None:
    dataset = load_data(DataConfig(dataset="ml-100k", data_dir=str(shared_data)))
    train = make_split(dataset).train
    assert len(ShillingDetector(seed=1).fit(train).detect(train).flagged) <= 2  # a clean log stays (nearly) clean
    targets = choose_targets(train, 5, seed=0)
    poisoned, fakes = inject(train, ShillingAttack("random", targets), seed=0)
    found = ShillingDetector(seed=1).fit(poisoned).detect(poisoned).precision_recall(fakes)
    assert found["precision"] >= 0.8 and found["recall"] >= 0.8

"""Distillation: a student trained with the teacher's softmax as a second target ends closer to the teacher's
distribution over items than the same student trained on the data alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.models.sequence.hooks import Distillation
from lmrec.testing.toy import block_data


@pytest.fixture(scope="module")
def data():
    return block_data(n_blocks=3, users_per_block=30, items_per_block=12, items_per_user=8, seed=0)


def divergence(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """KL(teacher || student) of the softmax over items, mean over histories."""
    return float(F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                          reduction="batchmean"))


def test_a_distilled_student_is_closer_to_its_teacher(data) -> None:
    teacher = create_model("sasrec-fused", {**SEQUENCE_TINY, "encoder": {"kind": "tfidf", "tfidf_dim": 16,
                                                                          "cache": False}})
    teacher.fit(data.split.train, catalog=data.dataset.catalog)
    student = {**SEQUENCE_TINY, "dim": 8, "train": {**SEQUENCE_TINY["train"], "epochs": 12}}
    alone = create_model("sasrec", student).fit(data.split.train)
    taught = create_model("sasrec", student).fit(data.split.train,
                                                 hooks=(Distillation(teacher.module_, weight=5.0, temperature=1.0),))
    reference = teacher.score(data.queries)
    assert divergence(taught.score(data.queries), reference) < 0.9 * divergence(alone.score(data.queries), reference)


def test_bad_distillation_settings_are_refused(data) -> None:
    teacher = create_model("sasrec", SEQUENCE_TINY).fit(data.split.train)
    with pytest.raises(ValueError, match="temperature > 0"):
        Distillation(teacher.module_, temperature=0)

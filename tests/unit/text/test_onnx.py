"""The int8 path's batching helpers (no ONNX Runtime needed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lmrec.text.onnx import _take_rows  # noqa: E402


@pytest.mark.parametrize("side", ["right", "left"])
def test_take_rows_cuts_to_the_longest_chosen_text(side: str) -> None:
    lengths = [5, 2, 3]
    width = max(lengths)
    mask = torch.zeros(3, width, dtype=torch.long)
    for row, n in enumerate(lengths):
        if side == "right":
            mask[row, :n] = 1
        else:
            mask[row, width - n:] = 1
    ids = torch.arange(3 * width).reshape(3, width) * mask
    features = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
                "modality": "text"}
    part = _take_rows(features, np.array([2, 1]))
    assert part["attention_mask"].shape == (2, 3) and part["modality"] == "text"
    assert part["attention_mask"].sum(dim=1).tolist() == [3, 2]
    expected = ids[[2, 1]][:, :3] if side == "right" else ids[[2, 1]][:, width - 3:]
    assert torch.equal(part["input_ids"], expected)

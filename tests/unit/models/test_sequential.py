"""Sequence-model plumbing: alignment, training windows, causality, sampled softmax."""

import numpy as np
import torch

from lmrec.data.types import PAD, Histories, Interactions
from lmrec.models.gru4rec import GRU4RecNet
from lmrec.models.sasrec import SASRecNet
from lmrec.models.sequence.windows import pad_windows, right_align, training_windows
from lmrec.train.losses import LossInputs, get_loss


def test_right_align_keeps_the_most_recent_items_at_the_end() -> None:
    h = Histories.from_lists([[1, 2, 3, 4], [5], []])
    assert right_align(h, 3).tolist() == [[2, 3, 4], [PAD, PAD, 5], [PAD, PAD, PAD]]


def test_windows_cover_every_next_item_once() -> None:
    items = np.arange(12)
    inter = Interactions(np.zeros(12, np.int64), items, np.arange(12), 1, 12)
    windows = training_windows(inter, max_len=5)
    targets = sorted(t for w in windows for t in w[1:].tolist())
    assert targets == list(range(1, 12))  # each of the 11 next-item events is a target exactly once
    inputs, labels = pad_windows([np.array([7, 8, 9]), np.array([1, 2])])
    assert inputs.tolist() == [[7, 8], [PAD, 1]] and labels.tolist() == [[8, 9], [PAD, 2]]


def test_sasrec_is_causal_and_ignores_left_padding() -> None:
    torch.manual_seed(0)
    net = SASRecNet(dim=16, layers=2, heads=2, max_len=8, dropout=0.0).eval()
    table = torch.randn(30, 16)
    seq = torch.tensor([[PAD, PAD, 3, 4, 5, 6]])
    out = net(seq, table)
    changed = seq.clone()
    changed[0, 5] = 9
    assert torch.allclose(net(changed, table)[0, :5], out[0, :5], atol=1e-5)  # the future is invisible
    swapped = seq.clone()
    swapped[0, 0] = 7  # what sits in padding slots... is not padding any more: must change the output
    assert not torch.allclose(net(swapped, table)[0, -1], out[0, -1])
    assert torch.isfinite(net(torch.full((1, 4), PAD), table)).all()  # an empty history is still finite


def test_gru_state_depends_only_on_the_past() -> None:
    torch.manual_seed(0)
    net = GRU4RecNet(dim=8, hidden=8, layers=1, dropout=0.0).eval()
    table = torch.randn(10, 8)
    seq = torch.tensor([[1, 2, 3, 4]])
    changed = torch.tensor([[1, 2, 3, 9]])
    assert torch.allclose(net(seq, table)[0, :3], net(changed, table)[0, :3])


def test_sampled_softmax_matches_full_softmax_when_every_item_is_sampled() -> None:
    torch.manual_seed(0)
    h, table = torch.randn(5, 4), torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 4])
    uniform = np.full(6, 1 / 6)
    negatives = torch.from_numpy(np.random.default_rng(0).choice(6, size=60000, p=uniform))
    log_q = torch.from_numpy(np.log(uniform * 60000)).float()[negatives]
    loss = get_loss("sampled")(LossInputs(h, y, table, negatives, log_q))  # each item ~10k times: -log Q undoes it
    full = torch.nn.functional.cross_entropy(h @ table.T, y)
    assert abs(float(loss) - float(full)) < 0.02


def test_text_model_adds_items_from_text_and_can_rank_them() -> None:
    import pytest

    from lmrec.errors import ConfigError
    from lmrec.models.registry import create_model
    from lmrec.testing.toy import ring_data

    ring = ring_data()
    config = {"dim": 16, "max_len": 8, "encoder": {"kind": "tfidf", "tfidf_dim": 8},
              "train": {"epochs": 2, "threads": 1}}
    model = create_model("sasrec-fused", config).fit(ring.split.train, catalog=ring.dataset.catalog)
    n = model.n_items_
    new = model.add_items(np.ones((2, model.text_vectors.shape[1]), np.float32) / 3)
    assert new.tolist() == [n, n + 1] and model.score(ring.queries).shape == (len(ring.queries), n + 2)
    id_only = create_model("sasrec", {"dim": 16, "train": {"epochs": 1}}).fit(ring.split.train)
    with pytest.raises(ConfigError, match="ID-only"):
        id_only.add_items(np.ones((1, 8), np.float32))


def test_last_only_forward_equals_the_full_forward_at_the_last_position() -> None:
    torch.manual_seed(0)
    net = SASRecNet(dim=16, layers=2, heads=2, max_len=8, dropout=0.0).eval()
    table = torch.randn(30, 16)
    seq = torch.tensor([[PAD, PAD, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    full = net(seq, table)[:, -1]
    last = net(seq, table, last_only=True)[:, -1]
    assert torch.allclose(full, last, atol=1e-5)


def test_new_fused_item_starts_from_its_text_neighbours_id_vectors() -> None:
    from lmrec.models.sequence import neighbour_mean

    text = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    ids = torch.tensor([[1.0, 1.0], [3.0, 3.0], [-5.0, -5.0]])
    start = neighbour_mean(torch.tensor([[1.0, 0.05]]), text, ids, k=2)
    # the direction of the two text-near items' mean (not the far one), at the typical trained length
    typical = ids.norm(dim=1).mean()
    assert torch.allclose(start, torch.tensor([[1.0, 1.0]]) / 2**0.5 * typical)


def test_batches_are_padded_to_a_multiple_of_eight_at_most_max_len() -> None:
    short = pad_windows([np.arange(4), np.arange(3)], max_len=50)[0]
    long = pad_windows([np.arange(60)], max_len=50)[0]
    assert short.shape == (2, 8) and long.shape == (1, 59)  # a window longer than max_len is never cut here


def test_valid_positions_keeps_every_real_target_once_and_pads_with_ignored_rows() -> None:
    from lmrec.models.sequence.windows import valid_positions

    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    targets = torch.tensor([[PAD, 4, 5], [PAD, PAD, 7]])
    h, y = valid_positions(hidden, targets, multiple=4)
    assert y.tolist() == [4, 5, 7, PAD]
    assert h[:3].tolist() == [[2.0, 3.0], [4.0, 5.0], [10.0, 11.0]]

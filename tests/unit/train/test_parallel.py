"""Data-parallel training: two gloo workers, each on its half of every batch, end with the same weights as each
other and as one process that saw whole batches; worker 0's validation decides for both."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from torch import nn

from lmrec.train.batches import TensorBatch
from lmrec.train.trainer import TrainConfig, Trainer


@dataclass(frozen=True)
class XY(TensorBatch):
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


def batches(rng: np.random.Generator):
    data = np.random.default_rng(7)
    x = torch.from_numpy(data.normal(size=(96, 4))).float()
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    order = torch.from_numpy(rng.permutation(96))
    for start in range(0, 96, 16):
        rows = order[start:start + 16]
        yield XY(x[rows], y[rows])


def train(out: Path | None = None) -> tuple[dict, list]:
    torch.manual_seed(0)
    module = nn.Linear(4, 1)
    calls = []

    def validate() -> float:
        calls.append(1)
        return -float(module.weight.detach().sum())  # differs by design between epochs; only worker 0 computes it

    loss = lambda m, b: ((m(b.x).squeeze(-1) - b.y) ** 2).mean()  # noqa: E731
    log = Trainer(TrainConfig(epochs=4, lr=0.05, patience=10)).fit(module, batches, loss, validate=validate)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    if out is not None:  # safetensors + JSON: nothing a test reads back is unpickled
        save_file({k: v.contiguous() for k, v in state.items()}, out.with_suffix(".safetensors"))
        out.with_suffix(".json").write_text(json.dumps({"valid": [e.valid for e in log.epochs], "calls": len(calls)}))
    return state, [e.valid for e in log.epochs]


def worker(rank: int, port: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                            timeout=timedelta(seconds=60))  # a stuck peer fails the test in a minute, not 30
    torch.manual_seed(100 + rank)  # different initial weights per worker: the leader's must win
    try:
        train(Path(folder) / f"rank{rank}")
        dist.barrier()  # both done before either tears gloo down: a peer that closes first can abort the other
    finally:
        dist.destroy_process_group()


def test_two_workers_match_one_process(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    ranks = [{"state": load_file(tmp_path / f"rank{r}.safetensors"),
              **json.loads((tmp_path / f"rank{r}.json").read_text())} for r in range(2)]
    single, single_valid = train()
    for found in ranks:
        for key, value in single.items():
            assert torch.allclose(found["state"][key], value, atol=1e-5), key
        assert found["valid"] == ranks[0]["valid"]  # the broadcast score: one early-stopping decision
    assert np.allclose(ranks[0]["valid"], single_valid, atol=1e-5)
    assert ranks[0]["calls"] == 4 and ranks[1]["calls"] == 0  # only the leader validates

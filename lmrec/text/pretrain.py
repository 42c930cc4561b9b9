"""Domain-adaptive pre-training of the item text encoder on a catalogue's own text (`lmrec pretrain-lm`).

Two objectives:
    mlm     masked-language-model continued pre-training (transformers' DataCollatorForLanguageModeling, 15 % of
            the word pieces): the encoder learns the catalogue's vocabulary (brands, model numbers, jargon). A
            sentence-transformers checkpoint ships no MLM head, so one is initialised fresh and thrown away after.
    simcse  unsupervised SimCSE: each text encoded twice with dropout on, the two mean-pooled vectors are each
            other's positive and the batch's other texts the negatives; keeps the space a sentence space.

The output is a complete sentence-transformers directory (the base model's files with the encoder's weights
replaced, written atomically), usable anywhere a model is named: `--set model.encoder.model=DIR`. The directory
name carries no weight; the vector cache keys on the files' hash, so vectors of the base model are never reused.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from lmrec.errors import ConfigError, DataError
from lmrec.text.base import DEFAULT_MODEL
from lmrec.text.loading import resolve_model

WEIGHTS = "model.safetensors"
INFO = "lmrec_pretrain.json"


@dataclass(frozen=True)
class LMPretrainConfig:
    model: str = DEFAULT_MODEL
    objective: Literal["mlm", "simcse"] = "mlm"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-5
    head_lr: float = 1e-3  # mlm: the freshly initialised vocabulary head
    max_length: int = 64
    mask_probability: float = 0.15
    temperature: float = 0.05  # simcse
    seed: int = 0
    threads: int | None = None
    extra: dict = field(default_factory=dict)  # recorded beside the weights (e.g. the items file's sha256)

    def __post_init__(self) -> None:
        if self.objective not in ("mlm", "simcse"):
            raise ConfigError(f"pretrain-lm objective={self.objective!r} is not one of ['mlm', 'simcse']")
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0 or self.max_length < 8:
            raise ConfigError("pretrain-lm needs epochs >= 1, batch_size >= 2, lr > 0 and max_length >= 8")
        if not 0 < self.mask_probability < 1 or self.temperature <= 0:
            raise ConfigError("pretrain-lm needs 0 < mask_probability < 1 and temperature > 0")


def pretrain_language_model(texts: Sequence[str], out: str | Path, config: LMPretrainConfig, *,
                            progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    """Continue pre-training `config.model` on `texts` and write a sentence-transformers directory to `out`;
    returns what was recorded (losses per epoch, sizes, seconds). `progress(step, steps, loss)` after each step."""
    import time

    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    texts = [" ".join(str(t).split()) for t in texts]
    texts = [t for t in texts if t]
    if len(texts) < 2:
        raise DataError("pretrain-lm needs at least two non-empty item texts")
    base = resolve_model(config.model)
    if not (base / "config.json").is_file() or not (base / WEIGHTS).is_file():
        raise ConfigError(f"{base}: not a sentence-transformers directory with {WEIGHTS} at its top")
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights newly initialised": the MLM head, expected
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
            model = AutoModelForMaskedLM.from_pretrained(base, local_files_only=True, dtype=torch.float32)
            encoder = model.base_model  # BertModel: what the sentence model consists of
            losses = _train(model, encoder, tokenizer, texts, config, progress)
        _write(encoder, base, Path(out), {**asdict(config), "texts": len(texts), "epoch_losses": losses})
    finally:
        hf_logging.set_verbosity(verbosity)
        torch.set_num_threads(previous_threads)
    return {"texts": len(texts), "epoch_losses": losses, "seconds": time.perf_counter() - started,
            "base_model": str(base), "objective": config.objective}


def _train(model: Any, encoder: Any, tokenizer: Any, texts: list[str], config: LMPretrainConfig,
           progress: Callable[[int, int, float], None] | None) -> list[float]:
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mask_probability)
    trained = model if config.objective == "mlm" else encoder
    body = {id(p) for p in encoder.parameters()}
    head = [p for p in trained.parameters() if p.requires_grad and id(p) not in body]
    # the MLM head's transform starts untrained (a sentence checkpoint has none): it learns at head_lr
    groups = [{"params": [p for p in encoder.parameters() if p.requires_grad], "lr": config.lr}]
    if head:
        groups.append({"params": head, "lr": config.head_lr})
    optimizer = torch.optim.AdamW(groups)
    rng = np.random.default_rng(config.seed)
    steps = config.epochs * int(np.ceil(len(texts) / config.batch_size))
    step, losses = 0, []
    trained.train()
    for _ in range(config.epochs):
        order, total, count = rng.permutation(len(texts)), 0.0, 0
        for begin in range(0, len(order), config.batch_size):
            batch = [texts[i] for i in order[begin:begin + config.batch_size]]
            if len(batch) < 2:
                continue
            tokens = tokenizer(batch, truncation=True, max_length=config.max_length, padding=True,
                               return_tensors="pt")
            if config.objective == "mlm":
                masked = collator([{"input_ids": ids} for ids in tokens["input_ids"]])
                loss = _mlm_loss(model, masked["input_ids"], tokens["attention_mask"], masked["labels"])
            else:
                loss = _simcse_loss(encoder, tokens, config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step, total, count = step + 1, total + float(loss.detach()), count + 1
            if progress is not None:
                progress(step, steps, float(loss.detach()))
        losses.append(total / max(count, 1))
    trained.eval()
    return losses


def _mlm_loss(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the masked positions only: a BERT's vocabulary head runs on those ~15 % of positions
    (the head over 30k word pieces is most of the step's cost); other architectures take the full forward."""
    from transformers import BertForMaskedLM

    if not isinstance(model, BertForMaskedLM):
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    where = labels != -100
    if not where.any():
        return hidden.sum() * 0.0
    return F.cross_entropy(model.cls(hidden[where]), labels[where])


def _simcse_loss(encoder: Any, tokens: dict, temperature: float) -> torch.Tensor:
    """Two dropout passes of the same texts; InfoNCE over the batch (mean pooling, as the sentence model pools)."""
    def pooled() -> torch.Tensor:
        hidden = encoder(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0), dim=1)

    first, second = pooled(), pooled()
    logits = first @ second.T / temperature
    return F.cross_entropy(logits, torch.arange(len(logits)))


def _write(encoder: Any, base: Path, out: Path, info: dict) -> None:
    """The base directory's files with the encoder's weights replaced, renamed into place."""
    from safetensors.torch import load_file, save_file

    if out.exists() and not (out / INFO).is_file():
        raise ConfigError(f"{out}: exists and was not written by `lmrec pretrain-lm`; choose a new --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staged = Path(tmp) / "model"
        shutil.copytree(base, staged, ignore=shutil.ignore_patterns(WEIGHTS, "*.bin", "onnx", "openvino"))
        state = load_file(str(base / WEIGHTS))  # keeps what the encoder lacks (BERT's unused pooler)
        mine = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
        unknown = sorted(set(mine) - set(state))
        if unknown:
            raise ConfigError(f"{base}: its weights file does not name the encoder's tensors ({unknown[:3]} ...)")
        state.update(mine)
        save_file(state, str(staged / WEIGHTS), metadata={"format": "pt"})
        (staged / INFO).write_text(json.dumps(info, indent=2, default=str))
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)

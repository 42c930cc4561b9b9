"""`TrainableTextEncoder`: the sentence model inside the training graph, fine-tuned fully or through LoRA (peft);
`TunedTextEncoder`: the encoder that places new items with the tuned model.

    encoder = TrainableTextEncoder(catalog.texts(None), EncoderConfig(), mode="lora")
    vectors = encoder(torch.tensor([3, 17, 3]))      # [3, 384], differentiable w.r.t. the LoRA weights
    frozen = encoder.merged().encode_all()           # [n_items, 384] after training, at base-model speed

Before any training step its vectors equal `encode_catalog` for the same `EncoderConfig` (cosine > 0.999; exact
up to float32 rounding when no text is longer than `max_tokens`): the transformer comes from the same
SentenceTransformer, and pooling / normalisation are that model's own modules (`Pooling`, `Normalize`, ...),
run on our batches, not a re-implementation. Every text is tokenised once, at construction; a batch gathers its
rows and is trimmed to its longest real length, so short titles cost little.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from lmrec.errors import ConfigError, DataError
from lmrec.text.base import EncoderConfig, check_texts
from lmrec.text.loading import load_sentence_transformer, resolve_model

Mode = Literal["lora", "full", "merged"]
PEFT_EXTRA = "pip install 'lmrec[peft]'"


class TrainableTextEncoder(nn.Module):
    """The sentence model inside the training graph: item index -> L2-normalised pooled text vector, exactly
    what encode_catalog gives for the same EncoderConfig when nothing has been trained yet.

    mode="lora": peft LoRA adapters on `target_modules` of the transformer; only `lora_` weights train.
    mode="full": every weight of the language model trains. `merged()` gives a frozen mode="merged" copy.
    Empty texts (after strip) are zero vectors, as in `encode_catalog`. Built in eval mode, like the loaded
    model (so forward is deterministic until `.train()` turns the model's own dropout on).
    The transformer's `pooler` head is dropped when the pipeline pools token embeddings: its output is never
    used, so LoRA on its `dense` (or full tuning of it) would be trainable weights that never get a gradient.
    """

    def __init__(self, texts: Sequence[str], encoder: EncoderConfig, *, mode: Literal["lora", "full"] = "lora",
                 lora_rank: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
                 target_modules: tuple[str, ...] = ("query", "key", "value", "dense"), max_tokens: int = 64) -> None:
        super().__init__()
        if encoder.kind != "sentence":
            raise ConfigError(f"TrainableTextEncoder needs a language model (kind='sentence'), got {encoder.kind!r}")
        if mode not in ("lora", "full"):
            raise ConfigError(f"mode={mode!r} is not one of ['lora', 'full']")
        if int(max_tokens) < 2:
            raise ConfigError(f"max_tokens={max_tokens!r} must be at least 2 (room for [CLS] and [SEP])")
        if mode == "lora" and (int(lora_rank) < 1 or not 0.0 <= float(lora_dropout) < 1.0):
            raise ConfigError(f"lora_rank={lora_rank!r} must be >= 1 and lora_dropout={lora_dropout!r} in [0, 1)")
        self.config = encoder
        self.mode: Mode = mode
        st = load_sentence_transformer(resolve_model(encoder.model), encoder.max_length)
        first = st[0]
        self.tokenizer: Any = getattr(first, "tokenizer", None)
        lm = getattr(first, "auto_model", None)
        if self.tokenizer is None or lm is None:
            raise ConfigError(f"model {encoder.model!r}: first module {type(first).__name__} is not a text "
                              "transformer with a tokenizer; cannot fine-tune it")
        self._output_name = _method_output_name(first)
        if self._output_name == "last_hidden_state" and getattr(lm, "pooler", None) is not None:
            lm.pooler = None  # unused by token pooling: no trainable weights without gradients
        self._token_key = getattr(first, "module_output_name", "token_embeddings")
        # Pooling, Normalize, Dense...: the pipeline's own modules, so pooling is read from the model, not assumed.
        self.tail = nn.Sequential(*[st[i] for i in range(1, len(st))])
        self.dim = int(st.get_embedding_dimension())
        limit = int(getattr(self.tokenizer, "model_max_length", encoder.max_length) or encoder.max_length)
        self.max_tokens = min(int(max_tokens), int(encoder.max_length), limit if limit < 10**6 else 10**6)
        pad = self.tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else 0
        self.register_buffer("_ids", torch.zeros((0, 1), dtype=torch.int32), persistent=False)
        self.register_buffer("_lengths", torch.zeros(0, dtype=torch.int32), persistent=False)
        self.lm: nn.Module
        if mode == "lora":
            self.lm = _with_lora(lm, int(lora_rank), int(lora_alpha), float(lora_dropout), tuple(target_modules))
            for module in self.tail.modules():  # LoRA adapts the transformer only; a Dense head stays as loaded
                for parameter in module.parameters(recurse=False):
                    parameter.requires_grad_(False)
        else:
            self.lm = lm
            for parameter in self.parameters():
                parameter.requires_grad_(True)
        self.add_texts(texts)
        self.eval()

    # ----------------------------------------------------------------------------------------------- texts
    @property
    def n_items(self) -> int:
        return int(self._lengths.shape[0])

    def add_texts(self, texts: Sequence[str]) -> None:
        """Append items (e.g. a catalogue's new items), tokenised once here; item i+n_items is texts[i]."""
        texts = check_texts(texts)
        if not texts:
            return
        keep = [i for i, text in enumerate(texts) if text.strip()]
        lengths = torch.zeros(len(texts), dtype=torch.int32)
        rows: list[list[int]] = [[] for _ in texts]
        if keep:
            encoded = self.tokenizer([texts[i] for i in keep], truncation=True, max_length=self.max_tokens,
                                     padding=False, return_attention_mask=False, return_token_type_ids=False)
            for i, ids in zip(keep, encoded["input_ids"], strict=True):
                rows[i] = list(ids)
                lengths[i] = len(ids)
        width = max(int(self._ids.shape[1]), int(lengths.max()), 1)
        new = torch.full((len(texts), width), self._pad_id, dtype=torch.int32)
        for i, ids in enumerate(rows):
            if ids:
                new[i, :len(ids)] = torch.tensor(ids, dtype=torch.int32)
        old = self._ids
        if old.shape[1] < width:
            old = torch.nn.functional.pad(old, (0, width - old.shape[1]), value=self._pad_id)
        self._ids = torch.cat([old, new.to(old.device)])
        self._lengths = torch.cat([self._lengths, lengths.to(self._lengths.device)])

    # ---------------------------------------------------------------------------------------------- forward
    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """float32 [n, dim] vectors of these item indices (any shape is flattened); repeated items run once."""
        flat = items.reshape(-1).long()
        if flat.numel() == 0:
            return torch.zeros((0, self.dim), device=self._ids.device)
        if int(flat.min()) < 0 or int(flat.max()) >= self.n_items:
            raise DataError(f"item index out of range [0, {self.n_items}): min {int(flat.min())}, "
                            f"max {int(flat.max())}")
        unique, inverse = torch.unique(flat, return_inverse=True)
        return self._encode_rows(unique)[inverse]

    def _encode_rows(self, rows: torch.Tensor) -> torch.Tensor:
        lengths = self._lengths[rows]
        nonempty = lengths > 0
        out_shape = (int(rows.shape[0]), self.dim)
        if not bool(nonempty.all()):
            out = torch.zeros(out_shape, device=self._ids.device)
            if bool(nonempty.any()):
                out = out.index_put((nonempty.nonzero().squeeze(1),), self._encode_rows(rows[nonempty]))
            return out
        # widths rounded up to a multiple of 8: a few GEMM shapes for oneDNN to cache, not one per batch
        width = min(-(-int(lengths.max()) // 8) * 8, int(self._ids.shape[1]))
        ids = self._ids[rows, :width].long()
        mask = (torch.arange(width, device=ids.device)[None, :] < lengths[:, None]).long()
        output = self.lm(input_ids=ids, attention_mask=mask, return_dict=True)
        features = {self._token_key: output[self._output_name], "attention_mask": mask}
        pooled = self.tail(features)["sentence_embedding"]
        # encode_catalog L2-normalises every non-empty row even for models without a Normalize module
        return torch.nn.functional.normalize(pooled.float(), p=2.0, dim=-1, eps=1e-12)

    def encode_all(self, batch_size: int = 256) -> torch.Tensor:
        """float32 [n_items, dim], no grad, eval mode (dropout off), length-sorted batches; the training
        mode is restored afterwards. bf16 autocast when the EncoderConfig says precision="bf16"."""
        was_training = self.training
        self.eval()
        out = torch.zeros((self.n_items, self.dim), device=self._ids.device)
        order = torch.argsort(self._lengths, descending=True, stable=True)
        bf16 = self.config.precision == "bf16"
        try:
            with torch.inference_mode(), torch.autocast(out.device.type, dtype=torch.bfloat16, enabled=bf16):
                for start in range(0, self.n_items, max(int(batch_size), 1)):
                    rows = order[start:start + int(batch_size)]
                    out[rows] = self._encode_rows(rows).float()
        finally:
            self.train(was_training)
        return out  # allocated outside inference_mode: a normal tensor, usable later under autograd

    # -------------------------------------------------------------------------------------------- weights
    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the language model (transformer + pipeline modules, LoRA included)."""
        params = list(self.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The trained weights, safetensors-ready (cpu, contiguous, own storage): LoRA weights only in mode
        "lora", every language-model weight in mode "full"/"merged". Load with `load_adapter_state`."""
        if self.mode == "lora":
            named = [(name, p) for name, p in self.named_parameters() if "lora_" in name]
        else:
            named = list(self.named_parameters())
        return {name: p.detach().to("cpu", copy=True).contiguous() for name, p in named}

    def load_adapter_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy weights from `adapter_state()` of an encoder built the same way; names must match exactly."""
        expected = set(self.adapter_state()) if self.mode == "lora" else {n for n, _ in self.named_parameters()}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise ConfigError(f"adapter state does not fit this {self.mode} encoder: missing {missing[:3]}"
                              f"{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
                              f"{'...' if len(unexpected) > 3 else ''} (same model, mode, rank, targets?)")
        parameters = dict(self.named_parameters())
        with torch.no_grad():
            for name in expected:
                if tuple(parameters[name].shape) != tuple(state[name].shape):
                    raise ConfigError(f"adapter weight {name}: shape {tuple(state[name].shape)}, "
                                      f"expected {tuple(parameters[name].shape)}")
                parameters[name].copy_(state[name])

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor], encoder: EncoderConfig, *,
                   mode: Literal["lora", "full"], lora_rank: int = 8, max_tokens: int = 64) -> TrainableTextEncoder:
        """Rebuild a saved fine-tuned LM from `adapter_state()` (no texts yet; `TunedTextEncoder` adds them)."""
        lm = cls([], encoder, mode=mode, lora_rank=lora_rank, max_tokens=max_tokens)
        lm.load_adapter_state(state)
        return lm.eval()

    def merged(self) -> TrainableTextEncoder:
        """A frozen copy with LoRA folded into the base weights (`merge_and_unload`), so encode_all runs at the
        base model's speed; this encoder keeps its adapters and can go on training. Mode "full": a frozen copy."""
        clone = copy.deepcopy(self)
        if self.mode == "lora":
            clone.lm = clone.lm.merge_and_unload()
        clone.mode = "merged"
        for parameter in clone.parameters():
            parameter.requires_grad_(False)
            parameter.grad = None
        return clone.eval()


def _with_lora(lm: nn.Module, rank: int, alpha: int, dropout: float, targets: tuple[str, ...]) -> nn.Module:
    """`get_peft_model` on the transformer; ConfigError (with the install line) when peft is missing."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError(f"mode='lora' needs peft: {PEFT_EXTRA} (or use mode='full')") from None
    if not targets:
        raise ConfigError("target_modules is empty; name the linear layers to adapt, e.g. ('query', 'value')")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    try:
        with warnings.catch_warnings():  # peft probes transformers' deprecated `is_gradient_checkpointing`
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(lm, config)
    except ValueError as exc:
        raise ConfigError(f"LoRA target_modules={list(targets)}: {exc}") from None


def _method_output_name(first: nn.Module) -> str:
    """Which output of the transformer the pipeline pools (MiniLM: "last_hidden_state")."""
    modality = getattr(first, "modality_config", None) or {}
    text = modality.get("text", {}) if isinstance(modality, dict) else {}
    name = text.get("method_output_name", "last_hidden_state")
    if text.get("method", "forward") != "forward" or not isinstance(name, str):
        raise ConfigError(f"the model's text pipeline ({text}) is not a plain forward -> token states one; "
                          "TrainableTextEncoder cannot fine-tune it")
    return name


class TunedTextEncoder:
    """New item texts -> vectors through a fine-tuned LM, exactly as the catalogue's vectors were made (eval
    mode, no gradients): the `ItemEncoder` a transferred model hands out for new items."""

    def __init__(self, lm: TrainableTextEncoder) -> None:
        self.lm = lm

    @property
    def name(self) -> str:
        return f"tuned/{self.lm.config.model}/{self.lm.mode}"

    @property
    def dim(self) -> int:
        return self.lm.dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 256, progress: Any = None) -> Any:
        first = self.lm.n_items
        self.lm.add_texts(list(texts))
        rows = torch.arange(first, self.lm.n_items, device=self.lm._ids.device)
        was_training = self.lm.training
        self.lm.eval()
        try:
            with torch.inference_mode():
                parts = [self.lm(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
        finally:
            self.lm.train(was_training)
        return torch.cat(parts).cpu().numpy() if parts else torch.zeros((0, self.lm.dim)).numpy()

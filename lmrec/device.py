"""Where tensors live and in what precision, chosen once (`--device auto|cpu|cuda`) and passed down as a
`torch.device` to training, text encoding, scoring and the service.

    device = resolve_device("auto")          # cuda when a GPU is visible, else cpu
    with autocast(device, resolve_precision("auto", device)):
        loss = ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from lmrec.errors import ConfigError

DeviceName = Literal["auto", "cpu", "cuda"]
DEVICE_NAMES: tuple[str, ...] = ("auto", "cpu", "cuda")
CPU = torch.device("cpu")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None) -> cuda when available, else cpu; 'cuda' or 'cuda:N' without a GPU is a ConfigError."""
    if isinstance(device, torch.device):
        chosen = device
    else:
        name = (device or "auto").strip().lower()
        if name == "auto":
            return torch.device("cuda") if torch.cuda.is_available() else CPU
        if name != "cpu" and not name.startswith("cuda"):
            raise ConfigError(f"--device {device!r} is not one of {list(DEVICE_NAMES)}")
        try:
            chosen = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"--device {device!r} is not a device torch knows (cpu, cuda, cuda:N)") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible to torch here; use --device cpu or auto")
    return chosen


def resolve_precision(precision: str, device: torch.device = CPU) -> str:
    """'auto' -> 'bf16' where the hardware does bf16 matmuls natively (a CUDA GPU with bf16, a CPU with
    AVX512-BF16/AMX: ~1.5x faster here, same accuracy), else 'float32'. Other values pass through."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "float32"
    try:
        return "bf16" if torch.cpu._is_avx512_bf16_supported() else "float32"  # noqa: SLF001
    except AttributeError:
        return "float32"


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """bf16 autocast on `device` when `precision` is 'bf16' (weights stay float32); a no-op otherwise."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


def describe(device: torch.device) -> str:
    """'cpu' or 'cuda:0 (NVIDIA H200)': recorded in meta.json beside the results it produced."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"

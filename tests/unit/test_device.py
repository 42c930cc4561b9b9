"""Device and precision chosen once: auto picks what is there, an absent GPU is a clear ConfigError."""

import pytest
import torch

from lmrec.device import describe, resolve_device, resolve_precision
from lmrec.errors import ConfigError


def test_auto_picks_cuda_only_when_torch_sees_a_gpu() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("cpu") == torch.device("cpu") and describe(torch.device("cpu")) == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_an_absent_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
        resolve_device("cuda")


def test_unknown_devices_are_refused() -> None:
    for bad in ("tpu", "gpu", "cuda:x"):
        with pytest.raises(ConfigError):
            resolve_device(bad)


def test_precision_auto_resolves_per_device_and_explicit_values_pass_through() -> None:
    assert resolve_precision("float32") == "float32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) in ("bf16", "float32")

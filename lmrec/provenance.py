"""What every artefact records about how it was made: library versions, platform, peak memory."""

from __future__ import annotations

import platform
import resource

import numpy as np
import torch


def environment() -> dict[str, str]:
    """Library versions recorded beside every model and result."""
    import lmrec

    versions = {"lmrec": lmrec.__version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__}
    for name in ("scipy", "pandas", "sklearn", "safetensors"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return {"versions": versions, "platform": platform.platform()}


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

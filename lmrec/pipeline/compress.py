"""`lmrec quantize`: a compressed copy of a run. RUN's current model (the `lmrec update` version in use, if any)
is compressed (lmrec/models/sequence/compress.py) and written as a run made from a run (lmrec/pipeline/derived.py:
RUN's split, ID maps, histories, catalogue and config; not its event log, audit trail or evaluation files), which
`evaluate`, `recommend`, `serve` and `update` read like any other:

    meta = compress_run("runs/sasrec", "runs/sasrec-int8", "prune:0.5,int8")
    meta["compression"]   # method, form, sparsity reached, parameters, weights bytes, agreement, source
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmrec.config import to_dict
from lmrec.io import atomic_write_json
from lmrec.models.base import WEIGHTS
from lmrec.models.sequence.compress import CompressionSpec, compress, net_bytes
from lmrec.pipeline.config import config_to_dict
from lmrec.pipeline.derived import check_target, save_derived_run
from lmrec.pipeline.load import LoadedRun, load_run
from lmrec.pipeline.rundir import RunDir
from lmrec.provenance import environment

AGREEMENT_USERS, AGREEMENT_K = 512, 10


def compress_run(source: str | Path, out: str | Path, method: str | CompressionSpec) -> dict[str, Any]:
    """Write the compressed copy of run `source` into `out` (new or empty, outside `source`); returns its
    meta.json, whose "compression" entry says what was done."""
    spec = method if isinstance(method, CompressionSpec) else CompressionSpec.parse(method)
    src, dst = RunDir(source), RunDir(out)
    src.require_complete()
    check_target(src, dst)
    run = load_run(src.root, device="cpu")
    model, info = compress(run.model, spec)  # ConfigError for a model that is not a sequence model
    info.update({
        "net_bytes": net_bytes(model.module_, model.config.inference),
        "agreement": agreement(run, model),
        "source": {"run": str(src.root.resolve()), "version": run.version, "model": run.config.model.name,
                   "weights_sha256": _sha256(src.current()[1].model / WEIGHTS),
                   "compression": run.meta.get("compression")},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": environment()["versions"],
    })
    config = {**config_to_dict(run.config), "model": {"name": run.config.model.name, **to_dict(model.config)}}
    meta = save_derived_run(run, dst, model, config, {**run.meta, "compression": info})
    info["weights_bytes"] = (dst.model / WEIGHTS).stat().st_size  # measured once written: meta.json again
    atomic_write_json(dst.inside(dst.meta), meta)
    return meta


def agreement(run: LoadedRun, compressed: Any) -> dict[str, Any]:
    """How far compression moved the lists: the mean share of the source model's top-10 the compressed model
    keeps, on up to 512 validation (else test) histories, seen items masked."""
    holdout = run.split.valid if run.split.valid is not None and len(run.split.valid) else run.split.test
    if holdout is None or not len(holdout):
        return {"histories": 0}
    rows = np.arange(min(AGREEMENT_USERS, len(holdout)))
    histories = holdout.histories(rows)
    k = min(AGREEMENT_K, len(run.items))
    with torch.inference_mode():
        before = run.model.recommend(histories, k).items
        after = compressed.recommend(histories, k).items
    kept = [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(before, after, strict=True)]
    return {"histories": len(rows), "k": k, "top_k_overlap": float(np.mean(kept))}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

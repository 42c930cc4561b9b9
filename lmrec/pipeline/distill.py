"""`lmrec distill`: a small student trained on a teacher run's split with the teacher's softmax as an extra
target (lmrec.models.sequence.hooks.Distillation), written as a normal run directory:

    meta = distill_run("runs/fused", "runs/student", overrides={"dim": 32, "layers": 1})
    meta["distillation"]   # teacher, weight, temperature, parameter counts of both

The default student is an ID-only SASRec (no language model at serve time) with 1 layer of dimension 32;
`weight=0` trains the same student without the teacher, on the same split, as the baseline it must beat.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Any

from lmrec.config import merge
from lmrec.errors import ConfigError
from lmrec.models.registry import ModelSpec, get_model
from lmrec.models.sequence import SequentialRecommender
from lmrec.models.sequence.hooks import Distillation
from lmrec.pipeline.config import RunConfig, config_to_dict
from lmrec.pipeline.derived import check_target, save_derived_run
from lmrec.pipeline.load import load_run
from lmrec.pipeline.rundir import RunDir
from lmrec.provenance import environment, peak_rss_mib
from lmrec.text.sentence import SentenceEncoder
from lmrec.train.curves import TrainingCurves
from lmrec.train.progress import Reporter, epoch_progress, together

STUDENT_DEFAULTS: dict[str, Any] = {"dim": 32, "layers": 1}


def distill_run(teacher_dir: str | Path, out: str | Path, *, student: str = "sasrec",
                overrides: dict[str, Any] | None = None, weight: float = 1.0, temperature: float = 2.0,
                progress: Reporter | None = None, tensorboard: str | Path | None = None) -> dict[str, Any]:
    """Train `student` (registered sequence model, STUDENT_DEFAULTS + `overrides`) on the teacher run's training
    data with the distillation loss, validate and stop early on the teacher's validation holdout, write `out`
    (and, with `tensorboard`, the student's training curves there); returns its meta.json."""
    source, target = RunDir(teacher_dir), RunDir(out)
    source.require_complete()
    check_target(source, target)
    teacher = load_run(source.root, device="cpu")
    if not isinstance(teacher.model, SequentialRecommender):
        raise ConfigError(f"{source.root}: the teacher must be a sequence model; it is {teacher.config.model.name!r}")
    entry = get_model(student)
    if not issubclass(entry.cls, SequentialRecommender):
        raise ConfigError(f"the student must be a sequence model (sasrec, gru4rec, ...); {student!r} is not")
    params = merge(STUDENT_DEFAULTS, overrides or {})
    model = entry.create(params)
    hooks = (Distillation(teacher.model.module_, weight, temperature),) if weight > 0 else ()
    started = time.perf_counter()
    with TrainingCurves(tensorboard) if tensorboard is not None else contextlib.nullcontext() as curves:
        model.fit(teacher.split.train, valid=teacher.split.valid, catalog=teacher.catalog,
                  progress=together(epoch_progress(progress, f"distill {student}"), curves), hooks=hooks)
    seconds = time.perf_counter() - started
    config = RunConfig(teacher.config.data, ModelSpec(student, params), teacher.config.prepare,
                       teacher.config.split, teacher.config.eval, teacher.config.seed)
    meta = {**{k: v for k, v in teacher.meta.items() if k in ("dataset", "split")},
            "model": student, "seed": teacher.config.seed, "fit_seconds": seconds, "peak_rss_mib": peak_rss_mib(),
            "fit_log": model.fit_log_,
            "distillation": {"teacher": str(source.root.resolve()), "teacher_model": teacher.config.model.name,
                             "teacher_version": teacher.version, "weight": weight, "temperature": temperature,
                             "parameters": {"teacher": parameter_count(teacher.model),
                                            "student": parameter_count(model)},
                             "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
            **({"tensorboard": str(tensorboard)} if tensorboard is not None else {}), **environment()}
    return save_derived_run(teacher, target, model, config_to_dict(config), meta)


def parameter_count(model: SequentialRecommender) -> dict[str, int]:
    """Parameters (and frozen text vectors) of the recommender, of the language model it needs to encode new items
    (0 for an ID-only model, or a TF-IDF encoder: no neural LM), and their total."""
    module = model.module_
    assert module is not None
    recommender = sum(t.numel() for t in module.state_dict().values())
    lm = 0
    if model.language_model_ is not None:
        lm = sum(p.numel() for p in model.language_model_.parameters())
    elif model.config.item_repr != "id" and model.config.encoder.kind != "tfidf":
        lm = sum(p.numel() for p in SentenceEncoder(model.config.encoder).model.parameters())
    return {"recommender": int(recommender), "language_model": int(lm), "total": int(recommender + lm)}

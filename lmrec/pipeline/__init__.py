"""The run pipeline: config -> data -> split -> fit (or the transfer step) -> artefacts in a run directory, then
evaluation from the directory alone. Fitting and evaluating work in memory; persisting is a separate step.

    from lmrec.pipeline import build_config, fit, save_run, load_run, evaluate_run
    fitted = fit(build_config(None, {"data": {"dataset": "ml-100k"}, "model": {"name": "ease"}}))
    save_run(fitted, "runs/ease")
    metrics = evaluate_run(load_run("runs/ease"))
"""

from lmrec.pipeline.compare import compare_runs
from lmrec.pipeline.config import EvalConfig, RunConfig, build_config, config_to_dict, resolve_config
from lmrec.pipeline.evaluate import RunEvaluation, evaluate_loaded, evaluate_run, write_evaluation
from lmrec.pipeline.fit import FittedRun, fit, fit_run, save_run
from lmrec.pipeline.load import LoadedRun, history_for, load_run
from lmrec.pipeline.rundir import RunDir

__all__ = ["EvalConfig", "FittedRun", "LoadedRun", "RunConfig", "RunDir", "RunEvaluation", "build_config",
           "compare_runs", "config_to_dict", "evaluate_loaded", "evaluate_run", "fit", "fit_run", "history_for",
           "load_run", "resolve_config", "save_run", "write_evaluation"]

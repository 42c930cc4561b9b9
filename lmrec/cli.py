"""The `lmrec` command line: the only place that reads argv or prints. Errors become one line and exit code 2."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lmrec.errors import LmrecError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Language-model item semantics + sequence models for recommendation.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect datasets and files.")
app.add_typer(data_app, name="data")
console = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn lmrec errors into `error: ...` on stderr and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LmrecError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


class RichProgress:
    """Adapts lmrec's (stage, done, total) progress callbacks to rich bars."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console, transient=True)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)


def _parse_ks(value: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise LmrecError(f"-k {value!r}: expected comma-separated positive integers, e.g. 10,20") from None
    if not ks or min(ks) < 1:
        raise LmrecError(f"-k {value!r}: expected comma-separated positive integers, e.g. 10,20")
    return ks


def _parse_models(models: str) -> list[str]:
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise LmrecError("--models is empty")
    return names


def _run_overrides(**flags: Any) -> dict[str, Any]:
    from lmrec.config import merge, parse_overrides

    data = {k: v for k, v in flags.items() if k not in ("model", "set_", "seed") and v is not None}
    tree: dict[str, Any] = {"data": data}
    if flags.get("model"):
        tree["model"] = {"name": flags["model"]}
    if flags.get("seed") is not None:
        tree["seed"] = flags["seed"]
    return merge(tree, parse_overrides(flags.get("set_") or []))


DatasetOpt = Annotated[str | None, typer.Option("--dataset", "-d", help="Built-in dataset, e.g. ml-100k.")]
InterOpt = Annotated[Path | None, typer.Option("--interactions", help="Interactions file (CSV/TSV/Parquet).")]
ItemsOpt = Annotated[Path | None, typer.Option("--items", help="Items file: item_id + text/attribute columns.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", envvar="LMREC_DATA_DIR",
                                                 help="Local folder with the official archives unpacked.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config key: section.key=value.")]
UserColOpt = Annotated[str | None, typer.Option(help="Column holding user IDs.")]
ItemColOpt = Annotated[str | None, typer.Option(help="Column holding item IDs.")]
TimeColOpt = Annotated[str | None, typer.Option(help="Column holding timestamps.")]
RatingColOpt = Annotated[str | None, typer.Option(help="Column holding ratings/weights.")]
OrderColOpt = Annotated[str | None, typer.Option(help="Tie-break column for equal timestamps.")]


@app.command()
@friendly
def fit(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name (see `lmrec models`).")] = None,
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML config file.")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    user_col: UserColOpt = None,
    item_col: ItemColOpt = None,
    timestamp_col: TimeColOpt = None,
    rating_col: RatingColOpt = None,
    order_col: OrderColOpt = None,
    pretrained: Annotated[Path | None, typer.Option("--pretrained", help="Start from a `lmrec pretrain` "
                                                    "checkpoint (its architecture and settings).")] = None,
    finetune: Annotated[str, typer.Option(help="With --pretrained: none, recommender, adapter, lora, lora-adapter, "
                                          "lora-recommender or full.")] = "recommender",
) -> None:
    """Train a model and write RUN_DIR (config.yaml, model/, split.npz, meta.json)."""
    from lmrec.config import merge, read_yaml
    from lmrec.run import build_config, fit_run

    base = read_yaml(config) if config else {}
    if pretrained is not None:
        from lmrec.transfer.api import transfer_overrides

        base = merge(transfer_overrides(pretrained, finetune=finetune, model=model), base)
    overrides = _run_overrides(
        model=model, seed=seed, set_=set_, dataset=dataset,
        interactions=str(interactions) if interactions else None, items=str(items) if items else None,
        data_dir=str(data_dir) if data_dir else None, user_col=user_col, item_col=item_col,
        timestamp_col=timestamp_col, rating_col=rating_col, order_col=order_col,
    )
    run_config = build_config(base, overrides)
    with RichProgress() as progress:
        meta = fit_run(run_config, out_dir, progress=progress)
    stats = meta["dataset"]
    out.print(f"fitted [bold]{meta['model']}[/] on {stats['name']} ({stats['users']} users, {stats['items']} items, "
              f"{stats['interactions']} interactions) in {meta['fit_seconds']:.1f}s; "
              f"split {meta['split']['fingerprint']}"
              f" -> {out_dir}")


@app.command()
@friendly
def evaluate(
    run_dir: Annotated[Path | None, typer.Argument(help="A directory written by `lmrec fit`.")] = None,
    k: Annotated[str, typer.Option("-k", help="Cut-offs, comma-separated.")] = "10,20",
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen/--include-seen",
                                               help="Mask each user's history items.")] = True,
    prequential: Annotated[bool, typer.Option("--prequential", help="Replay the test period in time order: "
                                              "static vs online-updated model; writes prequential.json.")] = False,
    chunk_days: Annotated[float, typer.Option(help="--prequential: days per chunk.")] = 7.0,
    zero_shot: Annotated[Path | None, typer.Option("--zero-shot", help="A `lmrec pretrain` checkpoint: apply it "
                                                   "to the target data below, no training; writes --out.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="--zero-shot: run directory to write.")] = None,
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    order_col: Annotated[str | None, typer.Option(help="--zero-shot: tie-break column for equal timestamps.")
                         ] = None,
) -> None:
    """Full-ranking evaluation; writes metrics.json, recommendations.csv and targets.csv into RUN_DIR."""
    from lmrec.run import evaluate_run, load_run

    ks = _parse_ks(k)
    if zero_shot is not None:
        run_dir = _zero_shot_run(zero_shot, out_dir, dataset=dataset, interactions=interactions, items=items,
                                 data_dir=data_dir, set_=set_, order_col=order_col)
    elif run_dir is None or out_dir is not None:
        raise LmrecError("give RUN_DIR, or --zero-shot CHECKPOINT with target data and --out RUN_DIR")
    run = load_run(run_dir)
    if prequential:
        _evaluate_prequential(run, k=ks[0], exclude_seen=exclude_seen, chunk_days=chunk_days)
        return
    with RichProgress() as progress:
        results = evaluate_run(run, ks=ks, exclude_seen=exclude_seen, progress=progress)
    title = f"{run.config.model.name} on {run.meta['dataset']['name']} (test, {results['test']['n_users']} users)"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for key, value in results["test"].items():
        if isinstance(value, float):
            ci = results["test"].get("ci", {}).get(key)
            table.add_row(key, f"{value:.4f}", f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
    out.print(table)
    out.print(f"wrote {run_dir / 'metrics.json'}, recommendations.csv, targets.csv")


def _zero_shot_run(pretrained: Path, out_dir: Path | None, *, set_: list[str] | None, **data: Any) -> Path:
    """Write a zero-shot RUN_DIR for the target data: the checkpoint with the target's items placed by text."""
    from lmrec.config import merge
    from lmrec.run import build_config, fit_run
    from lmrec.transfer.api import transfer_overrides

    if out_dir is None:
        raise LmrecError("--zero-shot needs --out RUN_DIR for the run it writes")
    base = merge(transfer_overrides(pretrained, finetune="none"),
                 _run_overrides(set_=set_, **{k: str(v) if isinstance(v, Path) else v for k, v in data.items()}))
    with RichProgress() as progress:
        fit_run(build_config(base, {}), out_dir, progress=progress)
    return out_dir


def _evaluate_prequential(run: Any, *, k: int, exclude_seen: bool, chunk_days: float) -> None:
    from lmrec.io import atomic_write_json
    from lmrec.online.prequential import PrequentialConfig, prequential_run

    config = PrequentialConfig(chunk_days=chunk_days, k=k, exclude_seen=exclude_seen)
    results = prequential_run(run, config=config)
    atomic_write_json(run.directory / "prequential.json", results)
    table = Table(title=f"prequential {run.config.model.name}: static vs online, {len(results['static']['chunks'])} "
                        f"chunks of {chunk_days:g} days")
    for column in ("part", "events", "metric", "static", "online", "diff [95% CI]", "p"):
        table.add_column(column)
    for part, entry in results["compare"].items():
        for metric in (f"hr@{k}", f"ndcg@{k}"):
            m = entry[metric]
            lo, hi = m["paired"]["ci"]
            table.add_row(part, str(entry["events"]), metric, f"{m['static']:.4f}", f"{m['online']:.4f}",
                          f"{m['paired']['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]", f"{m['paired']['p_value']:.3g}")
    out.print(table)
    probe = results["online"]["probe"]
    if probe:
        out.print(f"forgetting probe ndcg@{k}: {probe[0][f'ndcg@{k}']:.4f} before updates, "
                  f"{probe[-1][f'ndcg@{k}']:.4f} after")
    out.print(f"wrote {run.directory / 'prequential.json'}")


@app.command()
@friendly
def update(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `lmrec fit`.")],
    events: Annotated[Path | None, typer.Option("--events", help="Event log (default RUN_DIR/events.sqlite).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs (sequence models).")] = None,
    replay_ratio: Annotated[float | None, typer.Option(help="Old windows replayed per new window.")] = None,
    lr: Annotated[float | None, typer.Option(help="Fine-tuning learning rate (default: the model's).")] = None,
) -> None:
    """Learn from the events logged since the last update and atomically make the new model current."""
    from lmrec.online.updater import UpdateConfig, read_state, update_run

    given = {"epochs": epochs, "replay_ratio": replay_ratio, "lr": lr}
    config = UpdateConfig(**{key: value for key, value in given.items() if value is not None})
    before = read_state(run_dir)
    version = update_run(run_dir, events, config=config)
    after = read_state(run_dir)
    if version == (before["version"] or "initial"):
        out.print(f"no new events; {run_dir} stays at version {version}")
        return
    info = json.loads((run_dir / "versions" / version / "update.json").read_text())
    out.print(f"updated {run_dir} to version {version}: {info['new_events']} events "
              f"({info.get('skipped_unknown_items', 0)} skipped, {info.get('new_users', 0)} new users), "
              f"{info['mode']} in {info['seconds']:.1f}s; events up to id {after['last_event_id']}")


@app.command()
@friendly
def recommend(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `lmrec fit`.")],
    user: Annotated[str | None, typer.Option("--user", help="A known user ID.")] = None,
    history: Annotated[str | None, typer.Option("--history", help="Comma-separated item IDs.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many items.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-k items for a known user or for a raw history of item IDs (a user the model never saw)."""
    from lmrec.data.types import Histories
    from lmrec.run import history_for, load_run

    if (user is None) == (history is None):
        raise LmrecError("give exactly one of --user ID or --history ID,ID,...")
    run = load_run(run_dir)
    items = [v.strip() for v in history.split(",") if v.strip()] if history is not None else None
    if items is not None and not items:
        raise LmrecError("--history is empty; give at least one item ID")
    seq, unknown = history_for(run, user=user, items=items)
    top = run.model.recommend(Histories.from_lists([seq]), k)
    pairs = zip(top.items[0], top.scores[0], strict=True)
    rows = [{"item_id": str(run.items.raw[i]), "score": float(s)} for i, s in pairs]
    if unknown:
        console.print(f"[yellow]warning:[/] ignored unknown item IDs: {', '.join(unknown[:10])}")
    if as_json:
        out.print_json(json.dumps({"items": rows, "unknown_items": unknown}))
        return
    titles = _titles(run)
    table = Table(title=f"top {k} for " + (f"user {user}" if user else f"history of {len(seq)} items"))
    for column in ("rank", "item_id", "score", "text"):
        table.add_column(column)
    for rank, row in enumerate(rows, 1):
        table.add_row(str(rank), row["item_id"], f"{row['score']:.4f}",
                      titles.get(row["item_id"], "")[:60])
    out.print(table)


def _titles(run: Any) -> dict[str, str]:
    if run.catalog is None:
        return {}
    return dict(zip(run.items.raw.tolist(), run.catalog.texts(), strict=False))


@data_app.command("info")
@friendly
def data_info(
    source: Annotated[str, typer.Argument(help="Built-in dataset name or an interactions file.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Statistics of a dataset or file: counts, density, time range, text coverage, checksums."""
    from lmrec.data import dataset_info

    info = dataset_info(source, data_dir=str(data_dir) if data_dir else None)
    table = Table(title=str(source))
    table.add_column("field")
    table.add_column("value", justify="right")
    files = info.pop("files", None) or {}
    for key, value in info.items():
        table.add_row(str(key), f"{value:.6g}" if isinstance(value, float) else str(value))
    out.print(table)
    if files:
        checks = Table(title="files")
        for column in ("file", "bytes", "sha256", "checksum"):
            checks.add_column(column)
        for name, entry in files.items():
            pinned = entry.get("pinned")
            verdict = "not pinned" if not pinned else ("ok" if entry.get("matches_pin") else "MISMATCH")
            checks.add_row(name, str(entry.get("bytes")), str(entry.get("sha256", ""))[:16], verdict)
        out.print(checks)


@app.command()
@friendly
def compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run directory (evaluated).")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run directory (evaluated, same split).")],
    metric: Annotated[str, typer.Option(help="Per-user metric, e.g. ndcg@10.")] = "ndcg@10",
    method: Annotated[str, typer.Option(help="t, wilcoxon, bootstrap or randomization.")] = "t",
) -> None:
    """Paired significance test of B against A over the same test users."""
    from lmrec.run import compare_runs

    result = compare_runs(run_a, run_b, metric=metric, method=method)
    out.print(f"{metric}: A={result['mean_a']:.4f}  B={result['mean_b']:.4f}  diff={result['mean_diff']:+.4f} "
              f"95% CI [{result['ci'][0]:+.4f}, {result['ci'][1]:+.4f}]  p={result['p_value']:.3g} "
              f"({result['method']}, {result['users']} users)")


@app.command()
@friendly
def models() -> None:
    """List the registered models."""
    from lmrec.models.registry import model_names

    for name in model_names():
        out.print(name)


@app.command()
@friendly
def benchmark(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.md, plots and runs.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names.")],
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    k: Annotated[str, typer.Option("-k", help="Cut-offs, comma-separated.")] = "10,20",
    threads: Annotated[int | None, typer.Option(help="Torch threads per model process.")] = None,
    baseline: Annotated[str | None, typer.Option(help="Paired-test every model against this one.")] = None,
    order_col: OrderColOpt = None,
) -> None:
    """Train and evaluate several models on one split; write results.md (CIs, time, memory) and PNG plots."""
    from lmrec.benchmark import BenchmarkSpec, run_benchmark

    names = _parse_models(models)
    spec = BenchmarkSpec(
        models=tuple(names), dataset=dataset, interactions=str(interactions) if interactions else None,
        items=str(items) if items else None, data_dir=str(data_dir) if data_dir else None,
        overrides=tuple(set_ or ()) + ((f"data.order_col={order_col}",) if order_col else ()), seed=seed,
        ks=_parse_ks(k), threads=threads, baseline=baseline, command="lmrec " + " ".join(sys.argv[1:]),
    )
    report = run_benchmark(spec, out_dir, log=lambda message: console.print(message, highlight=False))
    print(report)  # markdown, unwrapped: it is also written to OUT/results.md


@app.command()
@friendly
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `lmrec fit`.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token_env: Annotated[str, typer.Option(help="Environment variable holding the write token.")] = "LMREC_API_TOKEN",
    allow_unauthenticated_writes: Annotated[bool, typer.Option(
        help="Accept POST /events and /items without a token when none is configured.")] = False,
    max_k: Annotated[int, typer.Option(help="Largest k a request may ask for.")] = 1000,
    threads: Annotated[int, typer.Option(help="Torch threads for scoring.")] = 1,
    faiss_min_items: Annotated[int, typer.Option(
        help="Catalogues this big use a FAISS index (dot-product models).")] = 50_000,
    coalesce: Annotated[int, typer.Option(
        help="Most concurrent /recommend calls scored in one model call (1: one call per request).")] = 64,
    watch_updates: Annotated[float, typer.Option(
        help="Every this many seconds, serve the version `lmrec update` made current (0: off).")] = 0.0,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request line.")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve RUN_DIR over HTTP (FastAPI + uvicorn): /recommend, /events, /items, /users, /health, /metrics."""
    from lmrec.serve import ServeConfig, run_server

    config = ServeConfig(token_env=token_env, allow_unauthenticated_writes=allow_unauthenticated_writes,
                         max_k=max_k, torch_threads=threads, faiss_min_items=faiss_min_items,
                         coalesce=coalesce, watch_updates_s=watch_updates)
    run_server(run_dir, host=host, port=port, config=config, access_log=access_log, log_level=log_level)


def main() -> None:
    logging.basicConfig(level=os.environ.get("LMREC_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    app()


from lmrec import cli_coldstart, cli_transfer  # noqa: E402, F401  (register `cold-start`, `pretrain` on `app`)

if __name__ == "__main__":  # `python -m lmrec.cli`: run the imported module, where every command is registered
    from lmrec.cli import main as _main

    _main()

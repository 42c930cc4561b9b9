"""What every `lmrec` verb shares: the consoles, one-line errors, progress rendering, option types, and turning
flags into config overrides. Only the CLI prints or reads argv."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from lmrec.errors import ConfigError, LmrecError

console = Console(stderr=True)  # progress, warnings, errors
out = Console()  # results
F = TypeVar("F", bound=Callable[..., Any])


def one_line(message: object) -> str:
    """A message as one line: newlines folded, so a log line or a test can match it whole."""
    return " ".join(str(message).split())


def error_line(message: object) -> None:
    """`error: ...` on stderr as one line, whatever the terminal width (never wrapped, never markup)."""
    console.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), soft_wrap=True, highlight=False)


def warn(message: object) -> None:
    console.print(Text.assemble(("warning:", "yellow"), " ", one_line(message)), soft_wrap=True, highlight=False)


def friendly(func: F) -> F:
    """Turn lmrec errors into one `error: ...` line on stderr and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LmrecError as exc:
            error_line(exc)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


class ConsoleReporter:
    """lmrec's (stage, done, total, detail) progress, rendered: a rich bar per stage in a terminal; otherwise (CI,
    pipes, logs) one line per training epoch and one per finished stage."""

    def __init__(self, live: bool | None = None) -> None:
        self.live = console.is_terminal if live is None else live
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("{task.fields[detail]}"), console=console, transient=True)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> ConsoleReporter:
        if self.live:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.bar.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        if not self.live:
            if detail:
                console.print(f"{stage}: {detail}", soft_wrap=True, highlight=False, markup=False)
            elif done >= total:
                console.print(f"{stage}: done ({total})", soft_wrap=True, highlight=False, markup=False)
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, detail="")
        self.bar.update(self.tasks[stage], completed=done, total=total, detail=detail)


class LineReporter:
    """Progress as plain lines on stderr (one per epoch and finished stage): what `lmrec benchmark` sends to each
    model's process, where several run at once and bars would interleave. Picklable."""

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        if detail or done >= total:
            print(f"    {stage}: {detail or f'done ({total})'}", file=sys.stderr, flush=True)


def parse_ks(value: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise LmrecError(f"-k {value!r}: expected comma-separated positive integers, e.g. 10,20") from None
    if not ks or min(ks) < 1:
        raise LmrecError(f"-k {value!r}: expected comma-separated positive integers, e.g. 10,20")
    return ks


def parse_models(models: str) -> list[str]:
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise LmrecError("--models is empty")
    return names


def run_overrides(**flags: Any) -> dict[str, Any]:
    """Data flags, --model, --seed and --set as a config tree (data section: only the flags given)."""
    from lmrec.config import merge, parse_overrides

    data = {k: str(v) if isinstance(v, Path) else v for k, v in flags.items()
            if k not in ("model", "set_", "seed") and v is not None}
    tree: dict[str, Any] = {"data": data}
    if flags.get("model"):
        tree["model"] = {"name": flags["model"]}
    if flags.get("seed") is not None:
        tree["seed"] = flags["seed"]
    return merge(tree, parse_overrides(flags.get("set_") or []))


DatasetOpt = Annotated[str | None, typer.Option("--dataset", "-d", help="Built-in dataset, e.g. ml-100k.")]
InterOpt = Annotated[Path | None, typer.Option("--interactions", help="Interactions file (CSV/TSV/Parquet).")]
ItemsOpt = Annotated[Path | None, typer.Option("--items", help="Items file: item_id + text/attribute columns.")]
UsersOpt = Annotated[Path | None, typer.Option("--users", help="User attributes: user_id + columns (CSV/TSV/"
                                                "Parquet or a RecBole .user file).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", envvar="LMREC_DATA_DIR",
                                                 help="Local folder with the official archives unpacked.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config key: section.key=value.")]
UserColOpt = Annotated[str | None, typer.Option(help="Column holding user IDs.")]
ItemColOpt = Annotated[str | None, typer.Option(help="Column holding item IDs.")]
TimeColOpt = Annotated[str | None, typer.Option(help="Column holding timestamps.")]
RatingColOpt = Annotated[str | None, typer.Option(help="Column holding ratings/weights.")]
EventColOpt = Annotated[str | None, typer.Option(help="Column holding event types (view, click, purchase).")]
OrderColOpt = Annotated[str | None, typer.Option(help="Tie-break column for equal timestamps.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (a GPU when there is one), cpu or cuda.")]
TensorBoardOpt = Annotated[Path | None, typer.Option(
    "--tensorboard", help="Write training curves (loss, validation NDCG@10, learning rate, examples/s per epoch) "
    "as TensorBoard event files here.")]
UPDATE_LM_HELP = ("Online updates also move the language-model side (the adapter over the LM's item vectors; "
                  "text-user's adapters), not only ID embeddings and the sequence net.")
IMPRESSION_WEIGHT_HELP = "Weight of impressions (shown, not chosen) as negatives in online updates; 0 ignores them."
LM_LR_SCALE_HELP = "With --update-lm: the LM side's learning rate as a fraction of the update's."
RunDirArg = Annotated[Path, typer.Argument(help="A directory written by `lmrec fit`.")]
EVENTS_URL_HELP = ("A PostgreSQL event log shared by several service replicas, e.g. postgresql://user@host/db "
                   "(instead of RUN_DIR/events.sqlite; needs `pip install 'lmrec[postgres]'`).")


def checked_events_url(url: str | None) -> str | None:
    """--events-url as given, once it is known to name a PostgreSQL database."""
    from lmrec.online.event_logs import URL_SCHEMES, describe

    if url is not None and not url.startswith(URL_SCHEMES):
        raise ConfigError(f"--events-url {describe(url)!r}: expected postgresql://[user[:password]@]host[:port]/db")
    return url

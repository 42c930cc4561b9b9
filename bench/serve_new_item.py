"""Issue #4 target 2: "A new item posted to /items appears in /recommend results for a user whose history is
semantically close, within 1 s." Writes bench/results/serve_new_item.md.

Protocol (amazon-office-2014, seed fixed):
  * Held-out items. An item X is *eligible* when some user's interaction with X directly follows an item with the
    same category_code and the same (known, non-zero) brand_code as X: "semantically close" is defined by the
    catalogue's own fields, not by any model. N eligible items are drawn at random (seed) and removed from the data
    entirely (their interactions and their catalogue rows); the model is trained on what is left, so it has never
    seen them, their text vectors included.
  * Probes. For each held-out X, one of its buyers (seed) whose history before X, with every held-out item dropped,
    ends with an item of X's category and brand. That history prefix is the query (`POST /recommend` with a raw
    `history`); the user really did take X next.
  * Service. `lmrec serve` on a copy of the run (so the committed/cached run is never written to) as a subprocess,
    with a fresh, empty vector cache (`LMREC_CACHE`), so every posted text is encoded for real (the catalogue
    encoding cache already holds these texts). Items are posted one at a time with their real ID and text.
  * Latency. After each `POST /items` answers 2xx, the client at once asks `/recommend` for the probe's full
    ranking (k = catalogue size) and repeats until X is in it; reported: POST duration, 2xx -> first ranking that
    holds X, and POST start -> that ranking. Then a k=10 request for the same history (timed; its list must equal
    the top 10 of the full ranking).
  * Quality. X's rank in the probe's ranking right after its own POST (earlier held-out items present), and again
    after all N are posted (the final catalogue); HR@10 / HR@50 / median rank over the N probes. Control: in the
    same final rankings, the ranks of the *other* held-out items whose category differs from X's (a new item for a
    user who is not close to it). Reference (when present): the benchmark run trained on all data (which knew X,
    and whose training targets included some of these very prefix -> X pairs, so it is optimistic) ranks X for
    the same prefixes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serve_new_item.py --fused
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from report_file import write_keeping_notes  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "amazon-office-2014"
TOKEN = "new-item-token"
BENCH_RUNS = REPO / "bench" / "results" / "amazon-office" / "runs"


@dataclass
class Probe:
    item: str  # the held-out item X
    text: str
    category: int
    brand: int
    user: str
    prefix: list[str]  # the user's items before X, held-out items dropped, oldest first


@dataclass
class Result:
    model: str
    run: str
    trained: str
    n_items: int
    post_s: list[float] = field(default_factory=list)
    visible_s: list[float] = field(default_factory=list)  # 2xx -> first /recommend holding X
    end_to_end_s: list[float] = field(default_factory=list)  # POST start -> that response
    polls: list[int] = field(default_factory=list)
    top10_s: list[float] = field(default_factory=list)
    rank_at_post: list[int] = field(default_factory=list)
    rank_final: list[int] = field(default_factory=list)
    control_ranks: list[int] = field(default_factory=list)
    top10_mismatch: int = 0
    items_after: int = 0
    reference_ranks: list[int] | None = None


# -- data and hold-out --------------------------------------------------------------------------------------------
def load_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = pd.read_csv(DATA / "items.csv", dtype={"item_id": str})
    inter = pd.read_csv(DATA / "interactions.csv", dtype={"user_id": str, "item_id": str})
    # lmrec's order: per user by timestamp, ties by the order column, then file order
    inter = inter.assign(_row=np.arange(len(inter))).sort_values(["user_id", "timestamp", "seq", "_row"],
                                                                 kind="stable")
    return items, inter.drop(columns="_row")


def choose_probes(items: pd.DataFrame, inter: pd.DataFrame, n: int, seed: int) -> list[Probe]:
    """N held-out items and one close buyer each (see the module docstring); deterministic for (data, n, seed)."""
    key = dict(zip(items.item_id, zip(items.category_code.astype(int), items.brand_code.astype(int), strict=True),
                   strict=True))
    text = dict(zip(items.item_id, items.text, strict=True))
    sequences = {u: g.item_id.tolist() for u, g in inter.groupby("user_id", sort=True)}

    def buyers(x: str, held: set[str]) -> list[tuple[str, list[str]]]:
        out = []
        for user, seq in sequences.items():
            for j, item in enumerate(seq):
                if item != x:
                    continue
                prefix = [i for i in seq[:j] if i not in held]
                if prefix and key[prefix[-1]] == key[x]:
                    out.append((user, prefix))
        return out

    eligible = sorted({x for seq in sequences.values() for a, x in zip(seq, seq[1:], strict=False)
                       if key[x][1] != 0 and key[a] == key[x]})
    rng = np.random.default_rng(seed)
    order = [eligible[i] for i in rng.permutation(len(eligible))]
    chosen, cursor = order[:n], n
    while True:  # dropping held-out items from prefixes can leave an item without a close buyer: replace it
        held = set(chosen)
        lost = [x for x in chosen if not buyers(x, held)]
        if not lost:
            break
        for x in lost:
            chosen[chosen.index(x)] = order[cursor]
            cursor += 1
    held = set(chosen)
    probes = []
    for x in chosen:
        options = buyers(x, held)
        user, prefix = options[int(rng.integers(len(options)))]
        probes.append(Probe(x, text[x], key[x][0], key[x][1], user, prefix))
    return probes


def write_reduced(items: pd.DataFrame, held: set[str], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    raw = pd.read_csv(DATA / "interactions.csv", dtype={"user_id": str, "item_id": str})  # original file order
    paths = folder / "interactions.csv", folder / "items.csv"
    raw[~raw.item_id.isin(held)].to_csv(paths[0], index=False)
    items[~items.item_id.isin(held)].to_csv(paths[1], index=False)
    return paths


# -- runs ---------------------------------------------------------------------------------------------------------
def run_items(run: Path) -> list[str]:
    return json.loads((run / "ids.json").read_text())["items"]


def ensure_run(model: str, given: Path | None, work: Path, data: tuple[Path, Path], held: set[str]) -> tuple[Path, str]:
    """The held-out run for `model`: `given`, else `work/<model>` if already trained on this hold-out, else a
    fresh `lmrec fit`. Refuses a run that knows any held-out item."""
    run = given or work / model
    if given is None and not (run / "model" / "weights.safetensors").exists():
        shutil.rmtree(run, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lmrec.cli", "fit", "--interactions", str(data[0]), "--items",
                        str(data[1]), "--order-col", "seq", "--model", model, "--seed", "0", "--out", str(run)],
                       check=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())})
        how = f"trained by this script (`lmrec fit`, {time.perf_counter() - started:.0f} s wall)"
    else:
        how = "given with --run-dir" if given else "reused from an earlier invocation of this script"
    known = held & set(run_items(run))
    if known:
        raise SystemExit(f"{run} knows {len(known)} held-out item(s) (e.g. {sorted(known)[:3]}): not a held-out run")
    fit = json.loads((run / "meta.json").read_text()).get("fit_seconds")
    return run, how + (f"; fit {fit:.0f} s" if fit else "")


# -- server -------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`lmrec serve` on a private copy of `run` with an empty vector cache; stopped with SIGINT."""

    def __init__(self, run: Path, max_k: int) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="lmrec-new-item-"))
        self.run = self.work / "run"
        shutil.copytree(run, self.run, ignore=shutil.ignore_patterns("events.sqlite*", "added_items.jsonl"))
        self.port = free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "LMREC_API_TOKEN": TOKEN, "LMREC_CACHE": str(self.work / "cache")}
        started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "lmrec.cli", "serve", str(self.run), "--port",
                                         str(self.port), "--max-k", str(max_k), "--no-access-log", "--log-level",
                                         "warning"], env=env, cwd=REPO)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30,
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if self.client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        self.start_s = time.perf_counter() - started

    def ranking(self, history: list[str], k: int) -> list[str]:
        response = self.client.post("/recommend", json={"history": history, "k": k})
        response.raise_for_status()
        return [row["item_id"] for row in response.json()["items"]]

    def close(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def rank_of(ranking: list[str], item: str) -> int:
    """1-based rank; len + 1 when absent (cannot happen with k >= catalogue size)."""
    return ranking.index(item) + 1 if item in ranking else len(ranking) + 1


# -- measurement --------------------------------------------------------------------------------------------------
def measure(model: str, run: Path, how: str, probes: list[Probe], poll_s: float) -> Result:
    n_items = len(run_items(run))
    max_k = n_items + len(probes)
    server = Server(run, max_k)
    result = Result(model, str(run.relative_to(REPO) if run.is_relative_to(REPO) else run), how, n_items)
    try:
        health = server.client.get("/health").json()
        assert health["items"] == n_items and health["can_add_items"], health
        for probe in probes:
            started = time.perf_counter()
            response = server.client.post("/items", json={"item_id": probe.item, "text": probe.text})
            acknowledged = time.perf_counter()
            if response.status_code != 201:
                raise RuntimeError(f"POST /items {probe.item}: {response.status_code} {response.text}")
            polls, ranking = 0, []
            while probe.item not in ranking:
                if polls and time.perf_counter() - acknowledged > poll_s:
                    raise RuntimeError(f"{probe.item} not in /recommend {poll_s} s after its 2xx")
                ranking = server.ranking(probe.prefix, max_k)
                polls += 1
            seen = time.perf_counter()
            top10 = server.ranking(probe.prefix, 10)
            result.top10_s.append(time.perf_counter() - seen)
            result.top10_mismatch += top10 != ranking[:10]
            result.post_s.append(acknowledged - started)
            result.visible_s.append(seen - acknowledged)
            result.end_to_end_s.append(seen - started)
            result.polls.append(polls)
            result.rank_at_post.append(rank_of(ranking, probe.item))
        result.items_after = server.client.get("/health").json()["items"]
        for probe in probes:
            ranking = server.ranking(probe.prefix, max_k)
            result.rank_final.append(rank_of(ranking, probe.item))
            result.control_ranks += [rank_of(ranking, other.item) for other in probes
                                     if other.category != probe.category]
    finally:
        server.close()
    return result


def reference_ranks(run: Path, probes: list[Probe]) -> list[int]:
    n_items = len(run_items(run))
    server = Server(run, n_items)
    try:
        return [rank_of(server.ranking(p.prefix, n_items), p.item) for p in probes]
    finally:
        server.close()


# -- report -------------------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def hit(ranks: list[int], k: int) -> str:
    return f"{np.mean(np.asarray(ranks) <= k):.2f} ({sum(r <= k for r in ranks)}/{len(ranks)})"


def ms(values: list[float]) -> str:
    return f"{1000 * pct(values, 50):.0f} / {1000 * pct(values, 90):.0f} / {1000 * max(values):.0f}"


def versions() -> str:
    import fastapi
    import torch

    import lmrec

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "lmrec"], cwd=REPO, capture_output=True,
                           text=True).stdout.split("\n")
    changed = sorted(line[3:] for line in dirty if line.strip())
    return (f"lmrec {getattr(lmrec, '__version__', '?')} (git {head.strip()}"
            + (f", uncommitted changes in {', '.join(changed)}" if changed else "") + f"), torch {torch.__version__}, "
            f"fastapi {fastapi.__version__}, httpx {httpx.__version__}, python {platform.python_version()}")


def write_report(args, probes: list[Probe], results: list[Result], data: tuple[Path, Path], started: float,
                 load_before: tuple[float, float, float], load_after: tuple[float, float, float]) -> None:
    n = len(probes)
    prefix_lengths = [len(p.prefix) for p in probes]
    lines = [
        "# New items through POST /items: visible and ranked for semantically close users", "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/serve_new_item.py {' '.join(sys.argv[1:])}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores (shared with other "
        f"sessions), load average before {'/'.join(f'{x:.2f}' for x in load_before)}, after "
        f"{'/'.join(f'{x:.2f}' for x in load_after)}; whole script {time.perf_counter() - started:.0f} s  ",
        f"Versions: {versions()}  ",
        f"Data: amazon-office-2014 (`../shared/data/amazon-office-2014/interactions.csv` + `items.csv`, "
        f"`--order-col seq`), minus {n} held-out items: {sum(1 for _ in open(data[0])) - 1} interactions, "
        f"{sum(1 for _ in open(data[1])) - 1} items left; seed {args.seed}.", "",
        "## Protocol", "",
        f"- **Held out.** An item X is eligible when some user's interaction with X directly follows an item with "
        f"the same `category_code` and the same known (non-zero) `brand_code` (catalogue fields, not a model's "
        f"opinion). {n} eligible items are drawn at random (seed {args.seed}) and removed from the interactions "
        "and from the catalogue; the model is trained (`lmrec fit`, default config, seed 0, leave-last-out split "
        "for early stopping) on the rest, so it never saw them, not even their text vectors.",
        f"- **Probes.** For each X one buyer (seed {args.seed}) whose history before X, held-out items dropped, ends "
        "with an item of X's category and brand; that prefix is the query (`POST /recommend` with a raw `history`, "
        f"`exclude_seen` on). Prefix length median {int(np.median(prefix_lengths))}, range "
        f"{min(prefix_lengths)}-{max(prefix_lengths)}. The user really took X next, so X is a relevant item, and "
        "its catalogue neighbours are in the user's recent history.",
        "- **Service.** `lmrec serve RUN_DIR --port P --max-k K` (uvicorn, 1 worker, 1 torch thread) as a "
        "subprocess on a temporary copy of the run, with `LMREC_API_TOKEN` set and an empty vector cache "
        "(`LMREC_CACHE`), so each posted text goes through the sentence encoder (the catalogue cache already holds "
        "these texts and would make encoding free). Client: httpx over keep-alive HTTP, one request at a time, "
        "`OMP_NUM_THREADS=1`.",
        "- **Latency.** Each X is posted alone (`POST /items {item_id, text}`, its real ID and text). As soon as "
        "the 2xx arrives, the client asks for the probe's full ranking (k = catalogue size) and repeats until X is "
        "in it. *visible* = 2xx -> that response; *end-to-end* = POST sent -> that response. Then a k=10 request "
        "for the same history (timed; its list is checked against the full ranking's top 10).",
        "- **Quality.** X's rank in that first ranking (catalogue + the held-out items posted before it), and again "
        f"after all {n} are posted. Control: in the same final rankings, the ranks of the other held-out items of "
        "a *different* category (a new item for a user who is not close to it). Reference: the benchmark run of "
        "the same model trained on all data (`bench/results/amazon-office/runs/<model>`, which knew X; some "
        "prefix -> X pairs were its training targets, so it is an optimistic bound) ranks X for the same prefixes.",
        "",
        "## Results", "",
        "Latencies are p50 / p90 / max in ms over the probes. The first POST after a start also loads the sentence "
        "encoder (lazy), shown apart.", "",
        "| model | run | items | POST /items | first POST (cold encoder) | visible after 2xx | end-to-end "
        "| end-to-end excl. first | polls | k=10 request |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.model} | `{r.run}` | {r.n_items} -> {r.items_after} | {ms(r.post_s)} | "
                     f"{1000 * r.post_s[0]:.0f} | {ms(r.visible_s)} | {ms(r.end_to_end_s)} | "
                     f"{ms(r.end_to_end_s[1:])} | {max(r.polls)} max | {ms(r.top10_s)} |")
    lines += ["", f"Ranks of the new item X for its close user ({n} probes; catalogue of ~"
              f"{results[0].n_items + n} items, so a random item's median rank is ~{(results[0].n_items + n) // 2}):",
              "", "| model | when | HR@10 | HR@50 | median rank | mean rank | within 1 s and top 10 |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        in_time = [rank if e <= 1.0 else 10**9 for rank, e in zip(r.rank_at_post, r.end_to_end_s, strict=True)]
        rows = [("right after its POST", r.rank_at_post, hit(in_time, 10)),
                (f"after all {n} posted", r.rank_final, ""),
                ("control: other-category new items, final", r.control_ranks, "")]
        if r.reference_ranks is not None:
            rows.append(("reference: trained-on-all run (knew X)", r.reference_ranks, ""))
        for label, ranks, timely in rows:
            lines.append(f"| {r.model} | {label} | {hit(ranks, 10)} | {hit(ranks, 50)} | {np.median(ranks):.0f} | "
                         f"{np.mean(ranks):.0f} | {timely} |")
    lines += ["", "Runs: " + "; ".join(f"{r.model}: {r.trained}" for r in results) + ".  ",
              "k=10 lists that differed from the full ranking's top 10: "
              + ", ".join(f"{r.model} {r.top10_mismatch}" for r in results) + ".", ""]
    probe_file = args.out.with_suffix(".probes.json") if args.save_probes else None
    if probe_file:
        probe_file.write_text(json.dumps([p.__dict__ for p in probes], indent=1))
    write_keeping_notes(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="held-out items (one probe each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", type=Path, help="a sasrec-text run trained without the held-out items")
    parser.add_argument("--fused", action="store_true", help="also measure sasrec-fused (trained the same way)")
    parser.add_argument("--fused-run-dir", type=Path)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "new-item",
                        help="reduced data and trained runs (reused by later invocations)")
    parser.add_argument("--poll-s", type=float, default=5.0, help="give up on an item not visible after this")
    parser.add_argument("--no-reference", action="store_true", help="skip the trained-on-all reference runs")
    parser.add_argument("--save-probes", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve_new_item.md")
    args = parser.parse_args()

    started = time.perf_counter()
    load_before = os.getloadavg()
    items, inter = load_data()
    probes = choose_probes(items, inter, args.n, args.seed)
    held = {p.item for p in probes}
    work = args.work / f"n{args.n}-seed{args.seed}"
    data = write_reduced(items, held, work / "data")
    print(f"{len(probes)} held-out items; reduced data in {work / 'data'}", flush=True)
    models = [("sasrec-text", args.run_dir)] + ([("sasrec-fused", args.fused_run_dir)] if args.fused else [])
    results = []
    for model, given in models:
        run, how = ensure_run(model, given, work, data, held)
        print(f"{model}: {run} ({how})", flush=True)
        result = measure(model, run, how, probes, args.poll_s)
        reference = BENCH_RUNS / model
        if not args.no_reference and (reference / "model" / "weights.safetensors").exists():
            result.reference_ranks = reference_ranks(reference, probes)
        results.append(result)
        print(f"{model}: HR@10 final {hit(result.rank_final, 10)}, median rank {np.median(result.rank_final):.0f}, "
              f"end-to-end p50 {1000 * pct(result.end_to_end_s, 50):.0f} ms max {1000 * max(result.end_to_end_s):.0f}"
              " ms", flush=True)
    write_report(args, probes, results, data, started, load_before, os.getloadavg())


if __name__ == "__main__":
    main()

"""The service's state: the loaded run as an immutable `Snapshot` (model, ID maps, history, catalogue, indexes),
the event log, the events received since training, and the items added through the API.

Readers take `state.snapshot` once per request and use only it, so a swap (one reference assignment under a
lock) never mixes two models inside a request: in-flight requests finish on the old snapshot.

Files in the serving directory (RUN_DIR given to `lmrec serve`):
  events.sqlite       every acknowledged event (lmrec.online.events.EventLog), unless the service writes a
                      PostgreSQL log (`--events-url`) that several replicas share
  added_items.jsonl   every acknowledged POST /items record, fsynced; replayed on start and after a reload
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data.pseudonym import pseudonym, pseudonym_key
from lmrec.data.types import Catalog, IdMap, Sequences
from lmrec.errors import ConfigError, DataError, LmrecError, ModelFileError, StorageFullError, UnknownIdError
from lmrec.models.capabilities import GrowableCatalogue, supports
from lmrec.models.growth import new_item_encoder, place_new_items
from lmrec.online.event_logs import open_event_log
from lmrec.online.events import Event
from lmrec.pipeline.filtering import added_items_filter, catalogue_filter
from lmrec.pipeline.rundir import RunDir
from lmrec.ranking import MMR, RankingPipeline, Stage, StageInputs, parse_stages, similarity_vectors
from lmrec.ranking.candidates import Exclusions
from lmrec.ranking.explain import item_names
from lmrec.ranking.filters import ContentFilter, FilterRules, load_rules
from lmrec.serve.catalogue import ItemCatalogue
from lmrec.serve.config import ServeConfig
from lmrec.serve.index import DotProduct, FaissIndex, dot_product, padding_invariant, retriever_for
from lmrec.serve.user_cache import UserStateCache

log = logging.getLogger(__name__)
STAGE_CACHE = 64  # re-ranking specs whose stages a snapshot keeps


class Conflict(ConfigError):
    """A write that cannot apply to the current state (duplicate item, ID-only model): HTTP 409."""


@dataclass(frozen=True)
class NewItem:
    item_id: str
    text: str
    attributes: dict[str, Any]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One consistent view: a model and the ID space, histories and catalogue it scores over."""

    model: Any
    version: str
    items: IdMap
    users: IdMap
    history: Sequences
    catalogue: ItemCatalogue
    base_catalog: Catalog | None
    config: ServeConfig
    n_trained_items: int
    update_version: str | None = None  # the `lmrec update` version loaded (None: the model `lmrec fit` wrote)
    ranker: Stage | None = None  # the ranking stage of `--rank-with` (first, before any requested stage)
    train_counts: np.ndarray | None = None  # events per item in the run's training split (fair's head and tail)
    content_filter: ContentFilter | None = None  # the deployment's content rules applied to these items

    @property
    def standing(self) -> Exclusions:
        """What every request excludes: the items the content filter removed."""
        return self.content_filter.exclusions if self.content_filter is not None else Exclusions()

    @cached_property
    def parts(self) -> DotProduct | None:
        """The model's user-vector / item-table halves (None: not a dot-product model); the user vectors come
        through this snapshot's `UserStateCache` unless `config.user_cache` is 0."""
        found = dot_product(self.model)
        if found is None or self.config.user_cache <= 0:
            return found
        return DotProduct(UserStateCache(found.query, self.config.user_cache), found.table)

    @property
    def user_cache(self) -> UserStateCache | None:
        query = self.parts.query if self.parts is not None else None
        return query if isinstance(query, UserStateCache) else None

    @cached_property
    def index(self) -> FaissIndex | None:
        """A FAISS index for big catalogues of dot-product models (None: exact scoring through the model)."""
        if not self.config.use_faiss or len(self.items) < self.config.faiss_min_items or self.parts is None:
            return None
        try:
            return FaissIndex(self.parts.table, self.config.faiss_index)
        except ImportError as exc:
            log.warning("%s; using exact scoring", exc)
            return None

    @cached_property
    def vectors(self) -> np.ndarray | None:
        """Normalised item vectors for /similar and diversity (None when the model has none)."""
        return similarity_vectors(self.model)

    @cached_property
    def retriever(self) -> Any:
        return retriever_for(self.model, self.index, self.parts, from_parts=self.config.user_cache > 0)

    def pipeline(self, stages: tuple[Stage, ...] = ()) -> RankingPipeline:
        """The ranking pipeline over this snapshot's model (FAISS retrieval when indexed)."""
        return RankingPipeline(self.retriever, stages if self.ranker is None else (self.ranker, *stages))

    @cached_property
    def stage_inputs(self) -> StageInputs:
        """What `rerank` stages read: item vectors, catalogue categories and the training counts, as evaluation
        builds them (items added since count zero)."""
        catalogue = self.catalogue
        sets = catalogue.category_sets if catalogue.category_field is not None or catalogue.frame is not None \
            else None
        counts = None
        if self.train_counts is not None:
            counts = np.zeros(len(self.items), np.int64)
            counts[:len(self.train_counts)] = self.train_counts
        names = item_names(self.base_catalog) if self.base_catalog is not None else None
        if names is not None:  # items added since are called by their posted text
            names = names + list(catalogue.texts[len(names):])
        return StageInputs(self.vectors, sets, counts, self.config.mmr_candidates, names=names)

    @cached_property
    def stage_cache(self) -> dict[str, Stage]:
        return {}

    def stages(self, specs: list[str]) -> tuple[Stage, ...]:
        """The re-ranking stages a request names (`calibrated:0.5`, ...): the parser `lmrec evaluate --rerank`
        uses; ConfigError when the spec or what it needs is missing. Each spec's stage is kept for the snapshot's
        life (the last STAGE_CACHE specs), so stages that count across requests (`fair:W:FIELD`) and explore with
        a generator keep their state."""
        out = []
        for spec in specs:
            stage = self.stage_cache.get(spec)
            if stage is None:
                (stage,) = parse_stages([spec], self.stage_inputs)
                if len(self.stage_cache) >= STAGE_CACHE:
                    self.stage_cache.pop(next(iter(self.stage_cache)))
                self.stage_cache[spec] = stage
            out.append(stage)
        return tuple(out)

    def mmr(self, lam: float) -> MMR | None:
        """The MMR stage evaluation runs for `--rerank mmr:LAMBDA` (None when the model has no item vectors)."""
        vectors = self.vectors
        return None if vectors is None else MMR(lam, vectors, candidates=self.config.mmr_candidates)

    @property
    def can_add_items(self) -> bool:
        return supports(self.model, GrowableCatalogue)

    @cached_property
    def pads_freely(self) -> bool:
        """Histories of any length may share a model call (see lmrec.serve.batching)."""
        n = len(self.history)
        lengths = self.history.lengths
        picks = [int(np.argmin(lengths)), int(np.argmax(lengths)), n // 2] if n else []
        rows = [self.history.row(u) for u in picks] + [self.history.row(picks[0])[:1]] if n else []
        try:
            return padding_invariant(self.model, rows)
        except Exception:  # a model that cannot score the probe simply gets no mixed batches
            return False

    @property
    def retrieval(self) -> str:
        if self.index is None:
            return "exact"
        return "faiss" if self.index.kind == "flat" else f"faiss-{self.index.kind}"

    def warm(self) -> Snapshot:
        """Build the lazy parts now (index), so the first request after a swap is not slow."""
        _ = self.retriever, self.pads_freely
        return self


class ServingState:
    """Holds the current snapshot, the event log and the write paths; shared by every request."""

    def __init__(self, run_dir: str | Path, config: ServeConfig | None = None) -> None:
        self.home = Path(run_dir)
        self.layout = RunDir(self.home)
        self.config = config or ServeConfig()
        self.log = open_event_log(self.config.event_log or self.layout.inside(self.layout.events))
        self._write_lock = threading.RLock()  # item writes, swaps, reloads
        self._events_lock = threading.Lock()  # event appends and the user-event cache
        self._user_events: dict[str, list[str]] = {}
        self._cursor = 0  # the highest event id folded into _user_events
        self._encoder: Any = None
        self.events_ingested = 0
        self.swaps = 0
        self.started = time.time()
        self._snapshot: Snapshot | None = None
        self._pseudonym_key: bytes | None = None
        self._ranker_run: Any = None  # the `rank_with` run, loaded at the first reload
        self.rules = load_rules(self.config.content_filter) if self.config.content_filter else None
        self.reload_from(self.home)

    @property
    def snapshot(self) -> Snapshot:
        assert self._snapshot is not None
        return self._snapshot

    # -- model lifecycle -------------------------------------------------------------------------------------
    def swap(self, model: Any, version: str) -> None:
        """Serve `model` from now on (atomic); it must score the current item space (added items included)."""
        with self._write_lock:
            current = self.snapshot
            n_items = model.n_items_
            if n_items != len(current.items):
                raise ConfigError(f"new model scores {n_items} items, the service has {len(current.items)}; "
                                  "add the missing items to it first (or use reload_from)")
            self._snapshot = replace(current, model=model, version=str(version)).warm()
            self.swaps += 1
        log.info("swapped in model version %s", version)

    def reload_from(self, run_dir: str | Path) -> None:
        """Serve the run in `run_dir` (model, ID maps, history, catalogue; the version `lmrec update` made current,
        if any). Items added through the API and not in that run are added again; events after the run's
        watermark (see `_watermark`) are the history since training."""
        run, watermark, carried = _load_consistent(Path(run_dir), self.config.device)
        key = pseudonym_key() if run.config.data.pseudonymize else None  # ConfigError at start when unset
        with self._write_lock:
            self._pseudonym_key = key
            snapshot = Snapshot(run.model, _version(run), run.items, run.users, run.history,
                                ItemCatalogue.build(run.catalog, len(run.items)), run.catalog, self.config,
                                len(run.items), run.version, self._ranking_stage(run),
                                np.bincount(run.split.train.item, minlength=len(run.items)),
                                catalogue_filter(self.rules, run.catalog, len(run.items)) if self.rules else None)
            self._encoder = None
            snapshot = self._replay_items(snapshot)
            with self._events_lock:
                self._user_events, self._cursor = self._load_user_events(snapshot, watermark, carried)
            self._snapshot = snapshot.warm()
            self._warm_encoder(snapshot)
        log.info("serving %s (%s, %d items, retrieval %s)", run_dir, snapshot.version, len(snapshot.items),
                 snapshot.retrieval)

    def _ranking_stage(self, run: Any) -> Stage | None:
        """The `rank_with` run's stage, checked against `run` (same split and items); loaded once."""
        if self.config.rank_with is None:
            return None
        from lmrec.pipeline import load_run
        from lmrec.pipeline.evaluate import ranking_stage

        if self._ranker_run is None:
            self._ranker_run = load_run(self.config.rank_with, device=self.config.device)
        return ranking_stage(run, self._ranker_run, self.config.rank_candidates, self.config.rank_weight)

    def refresh(self) -> bool:
        """Reload the serving directory when `lmrec update` has made another version current; True if it did."""
        try:
            current = self.layout.update_state().get("version")
        except LmrecError:  # a half-written or foreign state file: keep serving what we have
            return False
        if current is None or current == self.snapshot.update_version:
            return False
        self.reload_from(self.home)
        return True

    # -- histories -------------------------------------------------------------------------------------------
    def user_history(self, snapshot: Snapshot, user_id: str) -> np.ndarray:
        """Stored history (history.npz) followed by the events received since, as dense item indices."""
        events = self.user_events(user_id)
        known = user_id in snapshot.users
        if not known and not events:
            raise UnknownIdError(f"unknown user ID {user_id!r} (no stored history and no events)", field="user_id")
        stored = snapshot.history.row(snapshot.users.index(user_id)) if known else np.zeros(0, np.int64)
        if not events:
            return stored
        extra, _ = snapshot.items.split_known(events)
        return np.concatenate([stored, extra])

    def user_id(self, raw: str) -> str:
        """The ID this run stores for a user a client names: the raw ID, or its pseudonym in a run fitted with
        --pseudonymize (the service maps IDs at its edge; the log and histories never see the raw one)."""
        key = self._pseudonym_key
        return raw if key is None else pseudonym(raw, key)

    def user_events(self, user_id: str) -> list[str]:
        """The items of the user's events since training, newest last, including those another replica sharing
        the log has acknowledged (read up to the log's end first)."""
        with self._events_lock:
            self._catch_up()
            return list(self._user_events.get(user_id, ()))

    def _catch_up(self) -> None:
        """Fold in every event logged after the cursor: those this process appended and those other writers of a
        shared log did (ids become visible in id order, so the cursor never passes one). Caller holds
        _events_lock."""
        for event in self.log.since(self._cursor):
            if event.shows_interest:
                self._user_events.setdefault(event.user_id, []).append(event.item_id)
            self._cursor = int(event.id)

    # -- writes ----------------------------------------------------------------------------------------------
    def add_events(self, events: Sequence[Event], *, key: str | None = None) -> tuple[list[int], bool]:
        """Validate every item ID, append all events durably, then make them visible; all or none. With an
        idempotency `key` a retry stores nothing; returns (ids, whether they were stored now)."""
        snapshot = self.snapshot
        unknown = sorted({e.item_id for e in events if e.item_id not in snapshot.items})
        if unknown:
            raise UnknownIdError(f"unknown item ID(s) {unknown[:10]}; add new items with POST /items first",
                                 field="item_id")
        with self._events_lock:
            ids, stored = self.log.append_once(events, key=key)
            if stored:
                self._catch_up()
                self.events_ingested += len(ids)
        return ids, stored

    def add_items(self, records: Sequence[NewItem]) -> np.ndarray:
        """Encode item texts with the model's encoder, add them to a copy of the model, persist, then swap the
        copy in. Returns the new dense indices."""
        with self._write_lock:
            snapshot = self.snapshot
            self._check_new_items(snapshot, records)
            model, indices = self._grown_model(snapshot, records)
            _append_jsonl(self.layout.inside(self.layout.added_items), [
                {"item_id": r.item_id, "text": r.text, "attributes": r.attributes, "added_at": time.time()}
                for r in records])
            self._snapshot = _with_items(snapshot, model, records, self.rules).warm()
        return indices

    def forget(self, user_id: str, *, who: str) -> dict[str, Any]:
        """Erase a stored user ID from the log, every history and the run's files (lmrec/online/erasure.py),
        then serve the run as it now is. UnknownIdError when nothing of the user is held."""
        from lmrec.online.erasure import forget_user

        with self._write_lock:
            removed = forget_user(self.home, user_id, who=who, events=self.log)
            with self._events_lock:
                self._user_events.pop(user_id, None)
            self.reload_from(self.home)
        return removed

    def can_add_items(self, snapshot: Snapshot | None = None) -> bool:
        return (snapshot or self.snapshot).can_add_items

    def close(self) -> None:
        self.log.close()

    # -- helpers ---------------------------------------------------------------------------------------------
    def _check_new_items(self, snapshot: Snapshot, records: Sequence[NewItem]) -> None:
        if not self.can_add_items(snapshot):
            raise Conflict(f"model {snapshot.model.name!r} is ID-only: it cannot place an item "
                           "it never saw; serve a text or fused model (e.g. sasrec-text, sasrec-fused) to add items")
        ids = [r.item_id for r in records]
        existing = [i for i in ids if i in snapshot.items]
        if existing:
            raise Conflict(f"item ID(s) already exist: {existing[:10]}")
        if len(set(ids)) != len(ids):
            raise DataError("the same item ID appears twice in one request", field="item_id")

    def _grown_model(self, snapshot: Snapshot, records: Sequence[NewItem]) -> tuple[Any, np.ndarray]:
        """A copy of the model with the records added (`lmrec.models.growth.place_new_items`, as the cold-start
        protocol does); readers keep the old one untouched."""
        encoder = self._item_encoder(snapshot)
        model = copy.deepcopy(snapshot.model)
        return model, place_new_items(model, [r.text for r in records], encoder=encoder)

    def _warm_encoder(self, snapshot: Snapshot) -> None:
        """Load the item encoder now for models that can add items, so the first POST /items is not slow."""
        if not snapshot.can_add_items:
            return
        try:
            self._item_encoder(snapshot).encode(["warm-up"])
        except Exception as exc:  # serving works without it; POST /items will report the problem
            log.warning("could not load the item encoder at start: %s", exc)

    def _item_encoder(self, snapshot: Snapshot) -> Any:
        """The model's own new-item encoder (the fine-tuned LM when transfer tuned one; a TF-IDF encoder refitted
        on the trained catalogue), built once per loaded run."""
        if self._encoder is None:
            try:
                self._encoder = new_item_encoder(snapshot.model, snapshot.base_catalog)
            except ConfigError as exc:
                raise Conflict(str(exc)) from None
        return self._encoder

    def _replay_items(self, snapshot: Snapshot) -> Snapshot:
        records = [r for r in _read_jsonl(self.layout.inside(self.layout.added_items))
                   if r.item_id not in snapshot.items]
        records = list({r.item_id: r for r in records}.values())
        if not records:
            return snapshot
        if not self.can_add_items(snapshot):
            log.warning("%d added item(s) in %s cannot be restored: the model is ID-only", len(records),
                        self.layout.added_items)
            return snapshot
        model, _ = self._grown_model(snapshot, records)
        return _with_items(snapshot, model, records, self.rules)

    def _load_user_events(self, snapshot: Snapshot, after: int, carried: list[int]
                          ) -> tuple[dict[str, list[str]], int]:
        """Each user's events since the run's history: those `lmrec update` carried (items it did not know yet),
        then every event after its cursor; and the last id read (the cursor `_catch_up` goes on from)."""
        out: dict[str, list[str]] = {}
        skipped = 0
        fresh = self.log.since(after)
        for event in self.log.by_ids(carried) + fresh:
            if not event.shows_interest:
                continue
            if event.item_id in snapshot.items:
                out.setdefault(event.user_id, []).append(event.item_id)
            else:
                skipped += 1
        if skipped:
            log.warning("%d logged event(s) name items this model does not know; left out of histories", skipped)
        return out, int(fresh[-1].id) if fresh else int(after)


def _with_items(snapshot: Snapshot, model: Any, records: Sequence[NewItem], rules: FilterRules | None
                ) -> Snapshot:
    """The snapshot with `records` appended; the content rules judge the new items as they judged the others."""
    items = IdMap(np.concatenate([snapshot.items.raw, np.asarray([r.item_id for r in records], dtype=object)]))
    catalogue = snapshot.catalogue.with_items([r.text for r in records], [r.attributes for r in records])
    found = snapshot.content_filter
    if found is not None and rules is not None:
        found = found.extended(added_items_filter(rules, snapshot.base_catalog, [r.text for r in records],
                                                  [r.attributes for r in records], found.classifier))
        if found.reasons:
            log.info("content filter: %d of the added items removed", sum(1 for i in found.reasons
                                                                           if i >= len(snapshot.items)))
    return replace(snapshot, model=model, items=items, catalogue=catalogue, content_filter=found)


def _load_consistent(run_dir: Path, device: str = "cpu") -> tuple[Any, int, list[int]]:
    """load_run plus the id of the last event its history already holds: `lmrec update` keeps that cursor in
    update_state.json (`last_event_id`, next to the current `version`); a run written otherwise may set meta.json
    `events_until`; else 0; and the ids of events the update carried. Read again if an update committed in
    between, so history and cursor match."""
    from lmrec.pipeline.load import load_run

    for _ in range(3):
        run = load_run(run_dir, device=device)
        version = run.version
        if version is None:
            return run, int(run.meta.get("events_until", 0)), []
        state = RunDir(run_dir).update_state()
        if state.get("version") == version:
            return run, int(state["last_event_id"]), list(state["carried_event_ids"])
    raise ConfigError(f"{run_dir}: the current version keeps changing; try again")


def _version(run: Any) -> str:
    """The `lmrec update` version, else meta.json `model_version`, else model name + a hash of the weights."""
    if run.version:
        return str(run.version)
    if run.meta.get("model_version"):
        return str(run.meta["model_version"])
    digest = hashlib.sha256()
    weights = RunDir(run.directory).model / "weights.safetensors"
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{run.config.model.name}-{digest.hexdigest()[:12]}"


def _append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append lines and fsync (file, and the folder when the file is new) before returning."""
    new = not path.exists()
    torn = not new and path.stat().st_size > 0 and _last_byte(path) != b"\n"
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n" * torn + "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"
                                               for row in rows))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if exc.errno == errno.ENOSPC:  # a torn line may remain; the next start skips it, nothing was acknowledged
            raise StorageFullError(f"{path}: no space left; the items were not added") from None
        raise
    if new:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def _read_jsonl(path: Path) -> list[NewItem]:
    """Added-item records. A torn last line (a crash mid-write, never acknowledged) is skipped quietly; any other
    unreadable line (bad UTF-8, bad JSON, NaN, missing fields) is a lost record, so their count and line numbers
    are logged as a warning. A path that exists but is no regular file stops the start with one line."""
    if not path.exists():
        return []
    if not path.is_file():
        raise ModelFileError(f"{path}: is not a regular file; move it aside to start without the items added "
                             "through POST /items")
    lines = path.read_bytes().split(b"\n")
    out, lost = [], []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
            attributes = row.get("attributes") or {}
            if not isinstance(attributes, dict):
                raise TypeError("attributes")
            out.append(NewItem(str(row["item_id"]), str(row["text"]), attributes))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            if number < len(lines):
                lost.append(number)
            else:
                log.info("%s line %d: torn last record (never acknowledged) skipped", path, number)
    if lost:
        log.warning("%s: %d unreadable added-item record(s) skipped (lines %s): those items are lost", path,
                    len(lost), ", ".join(map(str, lost[:20])) + (" ..." if len(lost) > 20 else ""))
    return out


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")

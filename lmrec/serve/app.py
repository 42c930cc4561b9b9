"""`create_app(run_dir, config) -> FastAPI`: the HTTP face of a run. Routes turn JSON into `Histories` and rank
through the one ranking pipeline (lmrec.ranking, the code `lmrec evaluate --rerank` runs); writes go to the
`EventLog` / the added-items file before the 2xx.

    POST /recommend            {user_id | history, k, exclude_seen, include/exclude_categories, blocklist, diversity}
    POST /events               one event or a list                                           (scope: write)
    POST /items                one item or a list, encoded with the model's encoder          (scope: write)
    GET  /items/{id}           text and attributes      GET /items/{id}/similar?k=   cosine neighbours
    GET  /users/{id}           history incl. events     GET /health (open)    GET /metrics (Prometheus text)

Every route but /health needs a bearer token with the scope it names (read unless said otherwise; lmrec/serve/
auth.py); `--public-recommend` opens raw-history /recommend and item lookups.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import math
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmrec.config import show
from lmrec.data.types import Histories
from lmrec.errors import (
    ConfigError,
    LmrecError,
    ModelFileError,
    StorageFullError,
    StorageUnavailableError,
    UnknownIdError,
)
from lmrec.online.audit import AuditLog, token_fingerprint
from lmrec.online.events import Event
from lmrec.ranking import Exclusions
from lmrec.ranking.explain import MAX_EXPLAINED, explain
from lmrec.serve.auth import Denied, TokenTable, url_carries_token
from lmrec.serve.batching import Batcher
from lmrec.serve.config import ServeConfig
from lmrec.serve.index import similar
from lmrec.serve.metrics import Metrics
from lmrec.serve.middleware import DirectRoute, Guard
from lmrec.serve.schemas import (
    UNION_TAGS,
    Events,
    EventsResponse,
    ItemOut,
    Items,
    ItemsResponse,
    RecommendRequest,
    RecommendResponse,
    SimilarResponse,
    UserOut,
)
from lmrec.serve.state import Conflict, NewItem, ServingState, Snapshot

log = logging.getLogger(__name__)
PathId = Annotated[str, PathParam(max_length=512, description="a raw ID (at most 512 characters)")]
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def json_response(value: Any, status: int = 200) -> Response:
    """Pre-encoded JSON (skips FastAPI's generic encoder on the hot path)."""
    body = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json")


def create_app(run_dir: str | Path, config: ServeConfig | None = None, *,
               state: ServingState | None = None) -> FastAPI:
    """The service for one run directory; `app.state.serving` is the `ServingState` (swap / reload_from)."""
    config = config or ServeConfig()
    state = state or ServingState(run_dir, config)
    metrics = Metrics()
    batcher = Batcher(config.coalesce)
    tokens = config.tokens()
    bearer = HTTPBearer(auto_error=False, description="A token from LMREC_API_TOKEN (read, write, admin), "
                        "LMREC_READ_TOKEN (read) or the tokens file; only ever in this header.")

    def authorise(request: Request, scope: str, *, public: bool = False) -> None:
        """HTTPException 400 for a token in the URL, 401/403 unless the request may use `scope`."""
        if url_carries_token(request.scope.get("query_string", b"").decode("latin-1")):
            raise HTTPException(400, "send tokens in the 'Authorization: Bearer' header, never in the URL (URLs "
                                     "are logged)")
        if public:
            return
        if not tokens.grants(scope):
            if (config.allow_unauthenticated_reads if scope == "read" else
                    config.allow_unauthenticated_writes if scope == "write" else False):
                return
            where = config.token_env + (f" or {config.read_token_env}" if scope == "read" else "")
            raise HTTPException(403, f"{scope} routes are disabled: no token with the {scope!r} scope is configured "
                                     f"(set {where})")
        try:
            tokens.check(request.headers.get("authorization"), scope)
        except Denied as exc:
            raise HTTPException(exc.status, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    audit = AuditLog(state.layout.audit)

    def caller(request: Request) -> str:
        """Who wrote, for the audit log: the token's fingerprint, never the token."""
        _, _, given = request.headers.get("authorization", "").partition(" ")
        return token_fingerprint(given.strip()) if given.strip() else "anonymous"

    def needs(scope: str, *, public: bool = False) -> Any:
        async def dependency(request: Request, _: Any = Depends(bearer)) -> None:  # noqa: B008 (FastAPI style)
            authorise(request, scope, public=public)

        return Depends(dependency)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if config.explain_lm:  # load the small LM now, not in the first explained request
            from lmrec.text.generate import small_lm

            small_lm()
        watcher = asyncio.create_task(_watch(state, config.watch_updates_s)) if config.watch_updates_s > 0 else None
        yield
        if watcher is not None:
            watcher.cancel()
        state.close()

    app = FastAPI(title="lmrec", summary="Recommendations from an lmrec run directory.", lifespan=lifespan)
    app.state.serving = state
    app.state.metrics = metrics
    _install_error_handlers(app)

    @app.post("/recommend", response_model=RecommendResponse,
              openapi_extra={**_body_schema(RecommendRequest), "security": [{"HTTPBearer": []}]},
              description="Scope: read (a raw `history` needs none when the service runs with --public-recommend).")
    async def recommend(request: Request) -> Response:
        body = _parse(RecommendRequest, await request.body())  # pydantic straight from bytes: the hot path
        authorise(request, "read", public=config.public_recommend and body.user_id is None)
        snapshot = state.snapshot
        _check_limits(body, config)
        seq, unknown = _query_history(state, snapshot, body)
        user = _user_index(state, snapshot, body)
        histories = Histories.from_lists([seq])
        if user >= 0:  # a model that reads user attributes serves them with the history
            histories = dataclasses.replace(histories, users=np.asarray([user], np.int64))
        exclusions = _exclusions(snapshot, body)
        if body.diversity is None and not body.rerank and _only_standing(body) and config.coalesce > 1:
            items, scores = await batcher.submit(snapshot, seq, body.k, body.exclude_seen, user=user)
        else:
            stages = ()
            if body.diversity is not None:
                mmr = snapshot.mmr(float(body.diversity.lambda_))
                if mmr is None:
                    raise HTTPException(422, "diversity needs item vectors; this model has neither text vectors "
                                             "nor an item table")
                stages = (mmr,)
            if body.rerank:
                try:
                    stages = (*stages, *snapshot.stages(body.rerank))
                except ConfigError as exc:
                    raise HTTPException(422, str(exc)) from None
            top = snapshot.pipeline(stages).rank(histories, body.k, exclude_seen=body.exclude_seen,
                                                 exclusions=exclusions)
            items, scores = top.items[0], top.scores[0]
        raw = snapshot.items.raw
        kept = [(i, s) for i, s in zip(items.tolist(), scores.tolist(), strict=True) if i >= 0 and math.isfinite(s)]
        rows = [{"item_id": raw[i], "score": float(s)} for i, s in kept]
        if body.explain and kept:  # the first MAX_EXPLAINED items of a longer list are explained
            explained = [i for i, _ in kept][:MAX_EXPLAINED]
            for row, why in zip(rows, _explain(snapshot, seq, explained, user, body.explain_method,
                                               config.explain_lm), strict=False):
                row["explanation"] = why.to_json(raw)
        return json_response({"items": rows, "model_version": snapshot.version, "unknown_items": unknown})

    @app.post("/events", status_code=201, response_model=EventsResponse, dependencies=[needs("write")],
              description="Scope: write.")
    def post_events(request: Request, body: Events, idempotency_key: Annotated[str | None, Header(
            description="Any client-chosen key (1-200 printable ASCII characters): a retry with the same key and "
                        "events is stored once and answered with the first call's ids.")] = None) -> Response:
        batch = as_batch(body, "events", config.max_batch)
        if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise HTTPException(422, "header Idempotency-Key: 1-200 printable ASCII characters without spaces")
        events = [Event(state.user_id(e.user_id), e.item_id, e.timestamp, e.event_type, e.value) for e in batch]
        try:
            ids, stored = state.add_events(events, key=idempotency_key)
        except UnknownIdError as exc:
            raise HTTPException(422, str(exc)) from None
        audit.record("events", who=caller(request), count=len(ids), replayed=not stored)
        return json_response({"ids": ids, "count": len(ids), "replayed": not stored}, 201)

    @app.post("/items", status_code=201, response_model=ItemsResponse, dependencies=[needs("write")],
              description="Scope: write.")
    def post_items(request: Request, body: Items) -> Response:
        batch = as_batch(body, "items", config.max_batch)
        records = [NewItem(i.item_id, i.text, dict(i.attributes or {})) for i in batch]
        try:
            indices = state.add_items(records)
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        snapshot = state.snapshot
        audit.record("items", who=caller(request), count=len(records))
        rows = [{"item_id": r.item_id, "index": int(i)} for r, i in zip(records, indices, strict=True)]
        return json_response({"items": rows, "model_version": snapshot.version}, 201)

    @app.get("/items/{item_id}", response_model=ItemOut, dependencies=[needs("read", public=config.public_recommend)],
             description="Scope: read (none with --public-recommend).")
    async def get_item(item_id: PathId) -> Response:
        snapshot = state.snapshot
        index = _item_index(snapshot, item_id)
        return json_response({"item_id": item_id, "text": snapshot.catalogue.texts[index],
                              "attributes": snapshot.catalogue.attributes(index),
                              "added": index >= snapshot.n_trained_items})

    @app.get("/items/{item_id}/similar", response_model=SimilarResponse,
             dependencies=[needs("read", public=config.public_recommend)],
             description="Scope: read (none with --public-recommend).")
    async def get_similar(item_id: PathId, k: Annotated[int, Query(ge=1)] = 10) -> Response:
        snapshot = state.snapshot
        if k > config.max_k:
            raise HTTPException(422, f"k={k} is above the limit max_k={config.max_k}")
        index = _item_index(snapshot, item_id)
        vectors = snapshot.vectors
        if vectors is None:
            raise HTTPException(422, "similar items need item vectors; this model has neither text vectors nor "
                                     "an item table")
        items, sims = similar(vectors, index, k, snapshot.standing.keep)
        raw = snapshot.items.raw
        return json_response({"item_id": item_id, "items": [
            {"item_id": raw[i], "score": float(s)} for i, s in zip(items.tolist(), sims.tolist(), strict=True)]})

    @app.get("/users/{user_id}", response_model=UserOut, dependencies=[needs("read")], description="Scope: read.")
    async def get_user(user_id: PathId) -> Response:
        snapshot = state.snapshot
        stored = state.user_id(user_id)
        try:
            seq = state.user_history(snapshot, stored)
        except UnknownIdError:
            raise unknown_user(user_id) from None
        return json_response({"user_id": user_id, "known": stored in snapshot.users,
                              "history": snapshot.items.to_raw(seq).tolist(),
                              "events_since_training": len(state.user_events(stored))})

    @app.delete("/users/{user_id}", dependencies=[needs("admin")],
                description="Scope: admin. Erases the user's events, stored histories and evaluation rows and "
                            "audits it; the model keeps the user's influence until it is refitted "
                            "(`retrain_required`).")
    def delete_user(request: Request, user_id: PathId) -> Response:
        try:
            removed = state.forget(state.user_id(user_id), who=caller(request))
        except UnknownIdError:
            raise unknown_user(user_id) from None
        return json_response({"user_id": user_id, "erased": removed, "retrain_required": True})

    # -- the page (lmrec/serve/ui): static files, no data; the data comes from the API with the page's token --
    @app.get("/ui", include_in_schema=False)
    async def ui_page() -> Response:
        return _static("index.html", "text/html; charset=utf-8")

    @app.get("/ui/app.js", include_in_schema=False)
    async def ui_script() -> Response:
        return _static("app.js", "text/javascript; charset=utf-8")

    @app.get("/ui/app.css", include_in_schema=False)
    async def ui_style() -> Response:
        return _static("app.css", "text/css; charset=utf-8")

    @app.get("/simulations", dependencies=[needs("read")], description="Scope: read. `lmrec simulate` outputs "
             "kept in RUN_DIR/simulations/ and their plots.")
    async def list_simulations() -> Response:
        found = state.layout.simulation_plots()
        return json_response({"simulations": [{"name": n, "plots": p} for n, p in found.items()]})

    @app.get("/simulations/{name}/{plot}", dependencies=[needs("read")], description="Scope: read. One PNG plot.")
    async def simulation_plot(name: PathId, plot: PathId) -> Response:
        try:
            path = state.layout.simulation_plot(name, plot)
        except ModelFileError:
            raise HTTPException(404, f"no plot {plot!r} in simulation {name!r}") from None
        return Response(path.read_bytes(), media_type="image/png")

    @app.get("/health")
    async def health() -> Response:
        snapshot = state.snapshot
        return json_response({
            "status": "ok", "model": snapshot.model.name,
            "model_version": snapshot.version, "items": len(snapshot.items), "users": len(snapshot.users),
            "items_added": len(snapshot.items) - snapshot.n_trained_items, "events_ingested": state.events_ingested,
            "retrieval": snapshot.retrieval, "can_add_items": state.can_add_items(snapshot),
            "filtered": snapshot.content_filter.counts() if snapshot.content_filter is not None else None,
            "reads": _access(tokens, "read", config.allow_unauthenticated_reads),
            "writes": _access(tokens, "write", config.allow_unauthenticated_writes),
        })

    @app.get("/metrics", dependencies=[needs("read")], description="Scope: read.")
    async def prometheus() -> Response:
        snapshot = state.snapshot
        gauges = [
            ("lmrec_model_info", "The model being served (value 1).",
             {"version": snapshot.version, "retrieval": snapshot.retrieval}, 1.0),
            ("lmrec_items", "Items the service can recommend.", {}, float(len(snapshot.items))),
            ("lmrec_items_added", "Items added through POST /items.", {},
             float(len(snapshot.items) - snapshot.n_trained_items)),
            ("lmrec_events_ingested_total", "Events appended through POST /events since start.", {},
             float(state.events_ingested)),
            ("lmrec_model_swaps_total", "Model swaps since start.", {}, float(state.swaps)),
            ("lmrec_score_calls_total", "Model calls made for /recommend (several requests may share one).", {},
             float(batcher.calls)),
            ("lmrec_score_requests_total", "/recommend requests answered through those calls.", {},
             float(batcher.requests)),
        ]
        cache = snapshot.user_cache
        if cache is not None:
            gauges += [("lmrec_user_cache_hits_total", "User states served from the cache (this model version).", {},
                        float(cache.hits)),
                       ("lmrec_user_cache_misses_total", "User states the model computed (this model version).", {},
                        float(cache.misses))]
        if snapshot.content_filter is not None:
            gauges += [("lmrec_filtered_items", "Items the content filter removes, by rule kind.", {"rule": kind},
                        float(count)) for kind, count in snapshot.content_filter.counts().items()]
        return Response(metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")

    hot = next(r for r in app.routes if getattr(r, "path", None) == "/recommend")
    app.add_middleware(DirectRoute, method="POST", route=hot, endpoint=recommend, handlers=app.exception_handlers)
    app.add_middleware(Guard, metrics=metrics, max_body_bytes=config.max_body_bytes)  # outside DirectRoute
    return app


def unknown_user(raw_id: str) -> HTTPException:
    """404 naming the ID the client sent (shortened), not the pseudonym the run may store."""
    return HTTPException(404, f"user_id: unknown user ID {show(raw_id)} (no stored history and no events)")


def _access(tokens: TokenTable, scope: str, open_without_token: bool) -> str:
    """token (a configured token carries the scope), open, or disabled: what /health reports."""
    return "token" if tokens.grants(scope) else ("open" if open_without_token else "disabled")


async def _watch(state: ServingState, every_s: float) -> None:
    """Pick up versions `lmrec update` commits (the reload runs in a thread; requests go on meanwhile)."""
    last_error = None
    while True:
        await asyncio.sleep(every_s)
        try:
            if await asyncio.to_thread(state.refresh):
                log.info("now serving update %s", state.snapshot.version)
            last_error = None
        except Exception as exc:  # a half-written or broken version must not stop the service
            error = f"{type(exc).__name__}: {exc}"
            if error != last_error:  # once per distinct failure, one line: not a traceback every tick
                log.warning("could not load the new version (%s); still serving %s", error, state.snapshot.version)
            last_error = error


# -- request helpers ---------------------------------------------------------------------------------------------
def _parse(model: type[BaseModel], raw: bytes) -> Any:
    """Validate a JSON body in one pass (no json.loads + dict validation); errors read like FastAPI's."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself (nested models inlined)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def _check_limits(body: RecommendRequest, config: ServeConfig) -> None:
    if body.k > config.max_k:
        raise HTTPException(422, f"k={body.k} is above the limit max_k={config.max_k}")
    if (body.user_id is None) == (body.history is None):
        raise HTTPException(422, "give exactly one of user_id or history")
    if body.history is not None and len(body.history) > config.max_history:
        raise HTTPException(422, f"history has {len(body.history)} items; the limit is {config.max_history}")
    for name, values in (("include_categories", body.include_categories),
                         ("exclude_categories", body.exclude_categories)):
        if len(values or ()) > config.max_category_filters:
            raise HTTPException(422, f"{name}: at most {config.max_category_filters} categories")
    if len(body.blocklist or ()) > config.max_blocklist:
        raise HTTPException(422, f"blocklist: at most {config.max_blocklist} items")


def _query_history(state: ServingState, snapshot: Snapshot, body: RecommendRequest) -> tuple[np.ndarray, list[str]]:
    if body.user_id is not None:
        try:
            return state.user_history(snapshot, state.user_id(body.user_id)), []
        except UnknownIdError:
            raise unknown_user(body.user_id) from None
    seq, unknown = snapshot.items.split_known(body.history or [])
    if not len(seq):
        raise HTTPException(422, f"none of the history items are known: {unknown[:10]}")
    return seq, unknown


def _user_index(state: ServingState, snapshot: Snapshot, body: RecommendRequest) -> int:
    """The dense index of a named user the run knows (its model may read their attributes), else -1."""
    if body.user_id is None:
        return -1
    stored = state.user_id(body.user_id)
    return snapshot.users.index(stored) if stored in snapshot.users else -1


UI_POLICY = ("default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; connect-src 'self'; "
             "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _static(name: str, media_type: str) -> Response:
    """A file of the page, with a content security policy that allows this origin's script and nothing inline."""
    return Response(_page_file(name), media_type=media_type, headers={"Content-Security-Policy": UI_POLICY,
                                                          "X-Content-Type-Options": "nosniff"})


@functools.lru_cache(maxsize=8)
def _page_file(name: str) -> bytes:
    """The page's files are read once per process."""
    from importlib.resources import files

    return files("lmrec.serve").joinpath("ui", name).read_bytes()


def _explain(snapshot: Snapshot, seq: np.ndarray, items: list[int], user: int, method: str, with_lm: bool) -> list:
    """lmrec.ranking.explain for a served list (with the trained catalogue: items added since have no row in it,
    so an explanation names them by ID and shares nothing with them); `with_lm`: the small LM's sentence for the
    first item (`lmrec serve --explain-lm`, loaded at start)."""
    lm = None
    if with_lm:
        from lmrec.text.generate import small_lm

        lm = small_lm()
    try:
        return explain(snapshot.model, np.asarray(seq, np.int64), np.asarray(items, np.int64),
                       catalog=snapshot.base_catalog, user=user, method=method, lm=lm)
    except ConfigError as exc:
        raise HTTPException(422, f"explain: {exc}") from None


def _only_standing(body: RecommendRequest) -> bool:
    """The request excludes nothing beyond the standing exclusions (which the batched path applies too)."""
    return body.include_categories is None and body.exclude_categories is None and not body.blocklist


def _exclusions(snapshot: Snapshot, body: RecommendRequest) -> Exclusions:
    keep = None
    if body.include_categories is not None or body.exclude_categories is not None:
        catalogue = snapshot.catalogue
        if catalogue.category_field is None:
            raise HTTPException(422, "category filters need a catalogue with a categorical field; this run has none")
        asked = [*(body.include_categories or ()), *(body.exclude_categories or ())]
        unknown = sorted({c for c in asked if c not in catalogue.by_category})
        if unknown:
            known = sorted(catalogue.by_category)
            raise HTTPException(422, f"unknown {catalogue.category_field} value(s) {unknown[:10]}; "
                                     f"known: {known[:30]}")
        keep = catalogue.keep_mask(body.include_categories, body.exclude_categories)
    blocked = None
    if body.blocklist:
        blocked, _ = snapshot.items.split_known(body.blocklist)
    standing = snapshot.standing.keep  # the content filter's removals hold for every request
    if standing is not None:
        keep = standing if keep is None else keep & standing
    return Exclusions(keep, blocked)


def _item_index(snapshot: Snapshot, item_id: str) -> int:
    try:
        return snapshot.items.index(item_id)
    except UnknownIdError as exc:
        raise HTTPException(404, str(exc)) from None


# -- errors ------------------------------------------------------------------------------------------------------
def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON {"detail": "..."}: 422 names the field; lmrec errors are 4xx; nothing leaks a trace."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        problems = [_describe(error) for error in exc.errors()]
        return json_response({"detail": "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""),
                              "errors": problems}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        response = json_response({"detail": exc.detail}, exc.status_code)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(LmrecError)
    async def lmrec_error(_: Request, exc: LmrecError) -> Response:
        status = 409 if isinstance(exc, Conflict) else 507 if isinstance(exc, StorageFullError) \
            else 503 if isinstance(exc, StorageUnavailableError) else 422
        return json_response({"detail": str(exc)}, status)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_response({"detail": "internal error (logged on the server)"}, 500)


def _describe(error: dict[str, Any]) -> str:
    """'k: Input should be greater than or equal to 1' from a pydantic error; the body prefix and the
    one/many union tags are dropped, query and path parameters keep theirs."""
    loc = [str(part) for part in error.get("loc", ()) if str(part) not in UNION_TAGS]
    if loc and loc[0] == "body":
        loc = loc[1:]
    where = ".".join(loc) or "body"
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "json_invalid":
        return f"body is not valid JSON: {error.get('ctx', {}).get('error', message)}"
    if error.get("type") == "missing" and where == "body":
        return "body: a JSON body is required"
    return f"{where}: {message}"


def as_batch(body: Any, what: str, limit: int) -> list:
    """One object or a list of them, as a non-empty list of at most `limit` (422 otherwise)."""
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise HTTPException(422, f"no {what} given")
    if len(batch) > limit:
        raise HTTPException(422, f"{len(batch)} {what} in one request; the limit is {limit}")
    return batch

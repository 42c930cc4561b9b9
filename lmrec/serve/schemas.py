"""HTTP request and response bodies (pydantic: only at the HTTP boundary). Unknown fields are rejected, so a typo
such as `exclude_sen` is a 422 naming the field instead of a silently ignored option."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
)


def _int_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


RawId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512), BeforeValidator(_int_as_text)]
"""A raw user or item ID; JSON numbers are read as their decimal text (MovieLens IDs look like numbers)."""
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # JSON ints are accepted as floats
Strict = ConfigDict(extra="forbid")


class Diversity(BaseModel):
    model_config = Strict
    lambda_: Annotated[float, Field(alias="lambda", strict=True, ge=0.0, le=1.0)] = 0.7


class RecommendRequest(BaseModel):
    """Exactly one of `user_id` (stored history + events since) or `history` (raw item IDs, oldest first)."""

    model_config = Strict
    user_id: RawId | None = None
    history: Annotated[list[RawId], Field(min_length=1)] | None = None
    k: Annotated[StrictInt, Field(ge=1)] = 10
    exclude_seen: StrictBool = True
    include_categories: list[StrictStr] | None = None
    exclude_categories: list[StrictStr] | None = None
    blocklist: list[RawId] | None = None
    diversity: Diversity | None = None
    rerank: Annotated[list[Annotated[StrictStr, Field(max_length=64)]], Field(
        max_length=4, description="Re-ranking stages in order, as `lmrec evaluate --rerank` takes them: "
                                  "mmr:LAMBDA, calibrated:LAMBDA[:FIELD], fair:LAMBDA[:FIELD]")] | None = None
    explain: StrictBool = False
    explain_method: Literal["auto", "gradients", "leave-one-out"] = "auto"


class Driver(BaseModel):
    item_id: str
    weight: float


class ItemExplanation(BaseModel):
    """Why the item was recommended (lmrec.ranking.explain): the history items that drove its score, the
    catalogue values and words it shares with them, one sentence built from those."""

    method: str
    reason: str
    shared: dict[str, list[str]]
    drivers: list[Driver]
    lm_reason: str | None = None


class ScoredItem(BaseModel):
    item_id: str
    score: float
    explanation: ItemExplanation | None = None


class RecommendResponse(BaseModel):
    items: list[ScoredItem]
    model_version: str
    unknown_items: list[str]


class EventIn(BaseModel):
    model_config = Strict
    user_id: RawId
    item_id: RawId
    timestamp: Annotated[StrictInt, Field(ge=0, le=2**62, description="seconds since the epoch")] | None = None
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=64)] = "click"
    value: Number | None = None


def _one_or_many(value: Any) -> str:
    return "many" if isinstance(value, list) else "one"


UNION_TAGS = frozenset({"one", "many"})
Events = Annotated[Annotated[EventIn, Tag("one")] | Annotated[list[EventIn], Tag("many")], Discriminator(_one_or_many)]


class EventsResponse(BaseModel):
    ids: list[int]
    count: int
    replayed: bool = False  # an Idempotency-Key seen before: nothing was stored again


Scalar = StrictBool | StrictInt | Number | Annotated[StrictStr, Field(max_length=10_000)] | None
AttributeValue = Scalar | Annotated[list[Scalar], Field(max_length=1_000)]
"""An item attribute: a string, a finite number, true/false, null or a list of those (NaN and Infinity would be
stored, replayed on every restart and break every later read of the item)."""


class ItemIn(BaseModel):
    model_config = Strict
    item_id: RawId
    text: Annotated[StrictStr, Field(min_length=1, max_length=100_000)]
    attributes: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], AttributeValue],
                          Field(max_length=200)] | None = None


Items = Annotated[Annotated[ItemIn, Tag("one")] | Annotated[list[ItemIn], Tag("many")], Discriminator(_one_or_many)]


class ItemsResponse(BaseModel):
    items: list[dict[str, Any]]
    model_version: str


class ItemOut(BaseModel):
    item_id: str
    text: str
    attributes: dict[str, Any]
    added: bool


class SimilarResponse(BaseModel):
    item_id: str
    items: list[ScoredItem]


class UserOut(BaseModel):
    user_id: str
    known: bool
    history: list[str]
    events_since_training: int

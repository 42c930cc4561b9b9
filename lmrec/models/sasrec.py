"""SASRec and GRU4Rec in their ID-only, text-only (inductive) and fused variants; one line registers each."""

from __future__ import annotations

from dataclasses import dataclass

from lmrec.models.registry import register
from lmrec.models.sequential import ItemRepr, SequentialConfig, SequentialRecommender


@dataclass(frozen=True)
class TextConfig(SequentialConfig):
    item_repr: ItemRepr = "text"


@dataclass(frozen=True)
class FusedConfig(SequentialConfig):
    item_repr: ItemRepr = "fused"


@register("sasrec")
class SASRec(SequentialRecommender):
    architecture = "sasrec"


@register("sasrec-text")
class SASRecText(SequentialRecommender):
    Config = TextConfig
    architecture = "sasrec"


@register("sasrec-fused")
class SASRecFused(SequentialRecommender):
    Config = FusedConfig
    architecture = "sasrec"


@register("gru4rec")
class GRU4Rec(SequentialRecommender):
    architecture = "gru4rec"


@register("gru4rec-fused")
class GRU4RecFused(SequentialRecommender):
    Config = FusedConfig
    architecture = "gru4rec"

"""Attributes in a sequence model: which item and user fields it reads (declared in the data, else inferred and
recorded in the fit log), the modules that embed them, rebuilding those from a saved state, and the loss that
teaches the user-attribute vector alone to predict next items (it serves users with no history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from lmrec.data.features import FeatureTable, FieldSpec, encode_features, infer_fields
from lmrec.data.types import Catalog, IdMap, Interactions
from lmrec.data.vectors import read_item_vectors
from lmrec.errors import ConfigError, DataError
from lmrec.models.attributes import AttributeEmbedding, VectorModality, table_summary

ITEM_PREFIX = "tower.attributes."
USER_PREFIX = "users."
MODALITY_PREFIX = "tower.modality."


@dataclass
class FittedAttributes:
    """The encoded item and user tables a fit uses (None when the config does not ask for them)."""

    items: FeatureTable | None = None
    users: FeatureTable | None = None
    summary: dict = field(default_factory=dict)

    def modules(self, dim: int) -> dict[str, AttributeEmbedding | None]:
        """Keyword arguments of `SequenceModule.build`."""
        return {"item_attributes": None if self.items is None else AttributeEmbedding.from_table(self.items, dim),
                "user_attributes": None if self.users is None else AttributeEmbedding.from_table(self.users, dim)}


def fit_attributes(catalog: Catalog | None, users: pd.DataFrame | None, train: Interactions, *,
                   item_attributes: bool, user_attributes: bool | None) -> FittedAttributes:
    """Encode the catalogue's declared categorical/numeric fields (inferred from its non-text columns when none
    are declared) when `item_attributes`, and the users' attribute columns (inferred) when `user_attributes`
    (None: when there are any)."""
    out = FittedAttributes()
    if item_attributes:
        if catalog is None:
            raise ConfigError("model.item_attributes needs a catalogue (--items FILE or a dataset with one)")
        spec = FieldSpec.declared(catalog.categorical, catalog.numeric)
        if not spec:
            spec = infer_fields(catalog.frame, exclude=tuple(catalog.text_fields))
        if not spec:
            raise DataError(f"model.item_attributes: the catalogue has no categorical or numeric field "
                            f"(columns: {list(catalog.frame.columns)})")
        out.items = encode_features(catalog.frame, spec, kind="item")
        out.summary["items"] = {**table_summary(out.items), "inferred": spec.inferred}
    if user_attributes is None and users is None:
        out.summary["users"] = "none in the data"
    elif user_attributes is not False:
        if users is None:
            raise ConfigError("model.user_attributes needs user attributes: pass --users FILE or use a dataset "
                              "that has them (ml-100k, ml-1m)")
        if len(users) != train.n_users:
            raise DataError(f"user attributes have {len(users)} rows; the data has {train.n_users} users")
        spec = infer_fields(users)
        if not spec:
            raise DataError(f"no usable user attribute column in {list(users.columns)}")
        out.users = encode_features(users, spec, kind="user")
        out.summary["users"] = {**table_summary(out.users), "inferred": True,
                                "skipped": list(spec.skipped)}
    return out


def saved_attributes(state: dict[str, Tensor], dim: int) -> dict[str, Any]:
    """The attribute and modality modules a saved module state holds (keyword arguments of
    `SequenceModule.build`)."""
    found: dict[str, Any] = {}
    for key, prefix in (("item_attributes", ITEM_PREFIX), ("user_attributes", USER_PREFIX)):
        found[key] = (AttributeEmbedding.from_state(state, prefix, dim) if prefix + "codes" in state else None)
    found["modality"] = (VectorModality.from_state(state, MODALITY_PREFIX, dim) if MODALITY_PREFIX + "vectors" in state
                         else None)
    return found


def item_vector_modality(path: str | None, catalog: Catalog | None, n_items: int, dim: int) -> tuple[Any, dict]:
    """(VectorModality | None, fit-log entry) for `model.item_vectors=PATH`, aligned to the catalogue's items
    (its `item_id` column is the dense item order)."""
    if path is None:
        return None, {}
    if catalog is None or "item_id" not in catalog.frame.columns or len(catalog) != n_items:
        raise ConfigError("model.item_vectors needs the items' IDs: a catalogue (--items FILE or a dataset with one)")
    items = IdMap(catalog.frame["item_id"].astype(str).to_numpy(), kind="item")
    vectors, present = read_item_vectors(path, items)
    return (VectorModality(torch.from_numpy(vectors), dim),
            {"file": str(path), "dim": int(vectors.shape[1]), "items_with_vectors": int(present.sum())})


def attribute_only_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the demographic prior's logits [B, N] for every real target of each window [B, L]:
    the attributes alone learn what their users go on to choose."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    real = targets >= 0
    picked = logp.gather(1, targets.clamp(min=0))  # [B, L]
    return -(picked * real).sum() / real.sum().clamp(min=1)


def prior_fixed(hidden: Tensor, table: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """States [.., D + D + 1 (+T)] and item table with the demographic prior's columns detached: the next-item
    loss trains the net on top of the prior, and the prior is learned by its own loss alone (trained through
    the sum as well, it became whatever the net needed it to be, and served empty histories below popularity)."""
    cut = slice(dim, 2 * dim + 1)
    hidden = torch.cat([hidden[..., :dim], hidden[..., cut].detach(), hidden[..., 2 * dim + 1:]], dim=-1)
    table = torch.cat([table[:, :dim], table[:, cut].detach(), table[:, 2 * dim + 1:]], dim=1)
    return hidden, table

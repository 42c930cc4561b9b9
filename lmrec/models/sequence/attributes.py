"""Attributes in a sequence model: which item and user fields it reads (declared in the data, else inferred and
recorded in the fit log), the modules that embed them, rebuilding those from a saved state, and the loss that
teaches the user-attribute vector alone to predict next items (it serves users with no history)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import Tensor

from lmrec.data.features import FeatureTable, FieldSpec, encode_features, infer_fields
from lmrec.data.types import Catalog, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models.attributes import AttributeEmbedding, table_summary

ITEM_PREFIX = "tower.attributes."
USER_PREFIX = "users."


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


def saved_attributes(state: dict[str, Tensor], dim: int) -> dict[str, AttributeEmbedding | None]:
    """The attribute modules a saved module state holds (keyword arguments of `SequenceModule.build`)."""
    found: dict[str, AttributeEmbedding | None] = {}
    for key, prefix in (("item_attributes", ITEM_PREFIX), ("user_attributes", USER_PREFIX)):
        found[key] = (AttributeEmbedding.from_state(state, prefix, dim) if prefix + "codes" in state else None)
    return found


def attribute_only_loss(user_part: Tensor, table: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of g(x_u) [B, D] scored against the item table [N, >= D] for every real target of each
    window [B, L]: the attributes alone learn what their users go on to choose."""
    logits = user_part @ table[:, : user_part.shape[1]].T  # [B, N]
    logp = torch.log_softmax(logits.float(), dim=-1)
    real = targets >= 0
    picked = logp.gather(1, targets.clamp(min=0))  # [B, L]
    return -(picked * real).sum() / real.sum().clamp(min=1)


def compressed_with_users(module, vectors: Tensor, seq: Tensor, users: Tensor) -> Tensor:
    """User states from a compressed net ([B, D(+T)]) with the attribute vector joined as the float32 path does
    (an empty history is the attribute vector alone)."""
    part = module.user_part(users).to(vectors.dtype)
    dim = part.shape[1]
    empty = (seq < 0).all(dim=1, keepdim=True)
    head = torch.where(empty, torch.zeros_like(vectors[:, :dim]), vectors[:, :dim]) + part
    return torch.cat([head, vectors[:, dim:]], dim=1)


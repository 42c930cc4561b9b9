"""`AttributeEmbedding`: rows of attributes (a `FeatureTable` of items or users) -> vectors [R, D], the sum over
fields of the mean embedding of each categorical field's values plus a linear map of the numeric ones.

The table travels inside the module as buffers, so a saved model scores without the data that made it; a row
beyond the table (an item added later, a user the data did not know) has no attributes and gets the zero vector.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from lmrec.data.features import FeatureTable

STATE_KEYS = ("codes", "weights", "numeric")


class AttributeEmbedding(nn.Module):
    """[R, D] attribute vectors of R rows; `rows(index)` for a subset, zeros for index < 0 or >= R."""

    def __init__(self, codes: Tensor, weights: Tensor, numeric: Tensor, n_codes: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codes", codes.long(), persistent=True)
        self.register_buffer("weights", weights.float(), persistent=True)
        self.register_buffer("numeric", numeric.float(), persistent=True)
        self.embedding = nn.Embedding(int(n_codes), dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.02)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.project = nn.Linear(numeric.shape[1], dim, bias=False) if numeric.shape[1] else None

    @classmethod
    def from_table(cls, table: FeatureTable, dim: int) -> AttributeEmbedding:
        return cls(torch.from_numpy(table.codes), torch.from_numpy(table.weights), torch.from_numpy(table.numeric),
                   table.n_codes, dim)

    @classmethod
    def from_state(cls, state: dict[str, Tensor], prefix: str, dim: int) -> AttributeEmbedding:
        """Rebuild the module a saved state describes (its table sizes are in the buffers' shapes)."""
        codes, weights, numeric = (state[prefix + key] for key in STATE_KEYS)
        n_codes = state[prefix + "embedding.weight"].shape[0]
        return cls(codes, weights, numeric, n_codes, dim)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def forward(self) -> Tensor:  # [R, D]
        return self._embed(self.codes, self.weights, self.numeric)

    def rows(self, index: Tensor) -> Tensor:
        """[B, D] vectors of rows `index [B]`; zeros where the index is outside the table."""
        known = (index >= 0) & (index < len(self))
        safe = torch.where(known, index, torch.zeros_like(index))
        vectors = self._embed(self.codes[safe], self.weights[safe], self.numeric[safe])
        return vectors * known.unsqueeze(-1).to(vectors.dtype)

    def _embed(self, codes: Tensor, weights: Tensor, numeric: Tensor) -> Tensor:
        out = (self.embedding(codes) * weights.unsqueeze(-1)).sum(dim=-2)
        if self.project is not None:
            out = out + self.project(numeric)
        return out

    def forget(self, row: int) -> bool:
        """Erase row `row`'s attributes (it becomes a row without any); True when it had some."""
        if not 0 <= row < len(self):
            return False
        with torch.no_grad():
            had = bool((self.codes[row] > 0).any() or (self.numeric[row] != 0).any())
            self.codes[row] = 0
            self.weights[row] = 0.0
            self.numeric[row] = 0.0
        return had

    def grow(self, n: int) -> None:
        """Append `n` rows without attributes (items added from their text alone)."""
        self.codes = torch.cat([self.codes, self.codes.new_zeros(n, self.codes.shape[1])])
        self.weights = torch.cat([self.weights, self.weights.new_zeros(n, self.weights.shape[1])])
        self.numeric = torch.cat([self.numeric, self.numeric.new_zeros(n, self.numeric.shape[1])])


def table_summary(table: FeatureTable) -> dict[str, object]:
    """What the fit log records about an attribute table: its fields and how many rows have any attribute."""
    has_any = (table.codes > 0).any(axis=1) | (np.abs(table.numeric) > 0).any(axis=1)
    return {"fields": table.describe(), "rows": len(table), "rows_with_attributes": int(has_any.sum())}


class VectorModality(nn.Module):
    """Item vectors from elsewhere (image, audio: `lmrec.data.vectors`) through a trainable linear map to [N, D];
    items without a vector get zeros."""

    def __init__(self, vectors: Tensor, dim: int) -> None:
        super().__init__()
        self.register_buffer("vectors", vectors.float(), persistent=True)
        self.project = nn.Linear(vectors.shape[1], dim, bias=False)
        nn.init.normal_(self.project.weight, std=0.02)

    @classmethod
    def from_state(cls, state: dict[str, Tensor], prefix: str, dim: int) -> VectorModality:
        return cls(state[prefix + "vectors"], dim)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def forward(self) -> Tensor:  # [N, D]
        return self.project(self.vectors)

    def rows(self, index: Tensor) -> Tensor:
        known = (index >= 0) & (index < len(self))
        out = self.project(self.vectors[torch.where(known, index, torch.zeros_like(index))])
        return out * known.unsqueeze(-1).to(out.dtype)

    def grow(self, n: int) -> None:
        self.vectors = torch.cat([self.vectors, self.vectors.new_zeros(n, self.vectors.shape[1])])

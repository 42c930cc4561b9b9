"""Item towers: where an item's vector comes from. w_i = v_i + alpha * w'_i for the fused tower, where v_i is the
frozen language-model vector through a small trainable adapter and w'_i an ID embedding plus, when the tower has
them, the item's attribute embeddings (lmrec/models/attributes.py)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lmrec.models.attributes import AttributeEmbedding, VectorModality


class IdItemTower(nn.Module):
    """One free vector per item (transductive: unseen items have no vector)."""

    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_items, dim)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, text_noise: Tensor | None = None) -> Tensor:  # [N, D]; no text to perturb
        return self.embedding.weight


class TextAdapter(nn.Module):
    """Frozen text vectors [N, T] -> [N, D]: a linear map with a residual MLP, trainable, shared by all items."""

    def __init__(self, text_dim: int, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.project = nn.Linear(text_dim, dim)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(2 * dim, dim))

    def forward(self, text: Tensor) -> Tensor:
        h = self.project(text)
        return h + self.mlp(h)


class MoEAdapter(nn.Module):
    """Mixture of parametric-whitening experts (UniSRec): each expert maps (x - b_k) W_k, a softmax gate over x
    mixes them. Several whitened views of the text space transfer across domains better than one projection, and
    the adapter alone is small enough to be the only part fine-tuned on a new catalogue."""

    def __init__(self, text_dim: int, dim: int, experts: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.bias = nn.Parameter(torch.zeros(experts, text_dim))
        self.weight = nn.Parameter(torch.empty(experts, text_dim, dim))
        nn.init.normal_(self.weight, std=0.02)
        self.gate = nn.Linear(text_dim, experts, bias=False)
        nn.init.zeros_(self.gate.weight)  # start as the plain mean of the experts

    def forward(self, text: Tensor) -> Tensor:  # [N, T] -> [N, D]
        x = self.dropout(text)
        experts = torch.einsum("nkt,ktd->nkd", x[:, None, :] - self.bias[None], self.weight)  # [N, K, D]
        gates = torch.softmax(self.gate(x), dim=-1)  # [N, K]
        return (gates[:, :, None] * experts).sum(dim=1)


class TextItemTower(nn.Module):
    """Items from text alone (inductive): new items get a vector from their text, no retraining needed."""

    def __init__(self, text_vectors: Tensor, dim: int, dropout: float = 0.1, *, adapter: str = "mlp",
                 experts: int = 8) -> None:
        super().__init__()
        self.register_buffer("text_vectors", text_vectors.float(), persistent=True)
        if adapter == "moe":
            self.adapter: nn.Module = MoEAdapter(text_vectors.shape[1], dim, experts, dropout)
        else:
            self.adapter = TextAdapter(text_vectors.shape[1], dim, dropout)

    def forward(self, text_noise: Tensor | None = None) -> Tensor:  # [N, D]
        """`text_noise [N, T]` is added to the LM vectors before the adapter (adversarial training and the
        robustness measurement)."""
        text = self.text_vectors if text_noise is None else self.text_vectors + text_noise
        return self.adapter(text)


class FusedItemTower(nn.Module):
    """Text through an adapter and an ID embedding, fused:
      sum     t_i + alpha * e_i (alpha learnable unless fixed by config)
      gate    g_i * t_i + (1 - g_i) * alpha * e_i, g_i = sigmoid(W [t_i; e_i]) per dimension: each item chooses
              how much it trusts its text (a rarely seen item's ID vector is mostly noise)
      concat  W [t_i; alpha * e_i]
    `id_dropout` hides the ID part of that share of items at each training step, so the text part must carry
    the item on its own (sparse catalogues, new items)."""

    def __init__(self, text_vectors: Tensor, n_items: int, dim: int, *, alpha: float = 1.0,
                 learn_alpha: bool = True, dropout: float = 0.1, adapter: str = "mlp", experts: int = 8,
                 fusion: str = "sum", id_dropout: float = 0.0, attributes: AttributeEmbedding | None = None,
                 modality: VectorModality | None = None) -> None:
        super().__init__()
        self.text = TextItemTower(text_vectors, dim, dropout, adapter=adapter, experts=experts)
        self.ids = IdItemTower(n_items, dim)
        self.attributes = attributes
        self.modality = modality  # item vectors from a file (image, audio), projected
        self.alpha = nn.Parameter(torch.tensor(float(alpha)), requires_grad=learn_alpha)
        self.fusion, self.id_dropout = fusion, float(id_dropout)
        if fusion in ("gate", "concat"):
            self.mix = nn.Linear(2 * dim, dim)
            if fusion == "gate":
                nn.init.zeros_(self.mix.weight)  # start as the even mix of the two views
                nn.init.zeros_(self.mix.bias)

    def fuse(self, text: Tensor, ids: Tensor) -> Tensor:
        """[C, D] item vectors from their text part and ID part, [C, D] each."""
        ids = self.alpha * ids
        if self.training and self.id_dropout > 0:
            ids = ids * (torch.rand(ids.shape[0], 1, device=ids.device) >= self.id_dropout)
        if self.fusion == "sum":
            return text + ids
        both = torch.cat([text, ids], dim=-1)
        if self.fusion == "gate":
            gate = torch.sigmoid(self.mix(both))
            return 2.0 * (gate * text + (1.0 - gate) * ids)  # x2: the even mix keeps the sum's scale
        return self.mix(both)

    def id_vectors(self, items: Tensor | None = None) -> Tensor:
        """w'_i of `items [C]` (every item when None): the ID embedding plus the attribute embedding and the
        projected file vectors, when the tower has them."""
        ids = self.ids() if items is None else self.ids.embedding.weight[items]
        for part in (self.attributes, self.modality):
            if part is not None:
                ids = ids + (part() if items is None else part.rows(items))
        return ids

    def forward(self, text_noise: Tensor | None = None) -> Tensor:  # [N, D]
        return self.fuse(self.text(text_noise), self.id_vectors())


def zero_grown(embedding: nn.Embedding, n: int) -> nn.Embedding:
    """`embedding` with `n` zero rows appended (an item added later: nothing learned about it yet)."""
    grown = nn.Embedding(embedding.num_embeddings + n, embedding.embedding_dim).to(embedding.weight.device)
    with torch.no_grad():
        grown.weight.zero_()
        grown.weight[: embedding.num_embeddings] = embedding.weight
    return grown

"""Data-poisoning (shilling) attacks on an implicit-feedback sequence log, and the exposure they buy.

An attacker injects `share` x (real users) fake profiles, each ending with every target item (in random order),
after `filler` items chosen by the attack:
  random     uniformly from the catalogue (Lam & Riedl's random attack)
  average    by item popularity (the implicit-data analogue of the average attack: profiles that look like the
             crowd's)
  bandwagon  half the most popular items, half random (Burke et al.)
  sequence   a real user's recent training sequence copied as it is (a sequence-aware attack: the target follows
             contexts the model has learned to continue)

    poisoned, fakes = inject(train, ShillingAttack("bandwagon", targets), seed=0)
    exposure = target_exposure(ranking, holdout, targets)   # HR@k of the targets over real users
    rank = target_rank(model, holdout, targets)             # where the targets sit in every full ranking
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from lmrec.data.split import Holdout
from lmrec.data.types import Interactions
from lmrec.errors import ConfigError
from lmrec.eval.ranking import Ranking
from lmrec.models.capabilities import Scorer

AttackKind = Literal["random", "average", "bandwagon", "sequence"]
ATTACKS: tuple[str, ...] = get_args(AttackKind)


@dataclass(frozen=True)
class ShillingAttack:
    """`kind` (see the module docstring), the items to promote, fake profiles as a share of the real users, and
    filler items per profile (default: the median real profile length, at most 200)."""

    kind: str
    targets: tuple[int, ...]
    share: float = 0.01
    filler: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ATTACKS:
            raise ConfigError(f"attack {self.kind!r} is not one of {list(ATTACKS)}")
        if not 0 < self.share < 1 or not self.targets or (self.filler is not None and self.filler < 1):
            raise ConfigError(f"an attack needs 0 < share < 1, target items and filler >= 1; got share={self.share}, "
                              f"{len(self.targets)} targets, filler={self.filler}")


def choose_targets(train: Interactions, n: int, *, seed: int = 0) -> tuple[int, ...]:
    """`n` target items drawn from the less popular half of the items seen in training (who attacks to promote
    a hit?), seeded."""
    counts = np.bincount(train.item, minlength=train.n_items)
    seen = np.flatnonzero(counts > 0)
    tail = seen[counts[seen] <= np.median(counts[seen])]
    if len(tail) < n:
        raise ConfigError(f"only {len(tail)} less popular items to choose {n} targets from")
    return tuple(int(i) for i in np.sort(np.random.default_rng(seed).choice(tail, size=n, replace=False)))


def inject(train: Interactions, attack: ShillingAttack, *, seed: int = 0) -> tuple[Interactions, np.ndarray]:
    """`train` plus the fake profiles as new users after the real ones; returns it and the fake user indices."""
    rng = np.random.default_rng(seed)
    n_fake = max(1, round(attack.share * train.n_users))
    sequences = train.sequences()
    lengths = sequences.lengths[sequences.lengths > 0]
    filler = attack.filler or int(min(200, max(1, np.median(lengths))))
    counts = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    targets = np.asarray(attack.targets, dtype=np.int64)
    candidates = np.setdiff1d(np.arange(train.n_items), targets)
    profiles = []
    for _ in range(n_fake):
        items = _filler(attack.kind, rng, candidates, counts, sequences, filler)
        profiles.append(np.concatenate([items, rng.permutation(targets)]))
    users = np.concatenate([np.full(len(p), train.n_users + u, dtype=np.int64) for u, p in enumerate(profiles)])
    items = np.concatenate(profiles).astype(np.int64)
    start = int(np.median(train.timestamp)) if len(train) else 0
    times = np.concatenate([start + np.arange(len(p), dtype=np.int64) for p in profiles])
    poisoned = Interactions(np.concatenate([train.user, users]), np.concatenate([train.item, items]),
                            np.concatenate([train.timestamp, times]), train.n_users + n_fake, train.n_items)
    return poisoned, np.arange(train.n_users, train.n_users + n_fake)


def _filler(kind: str, rng: np.random.Generator, candidates: np.ndarray, counts: np.ndarray, sequences,
            size: int) -> np.ndarray:
    size = min(size, len(candidates))
    if kind == "random":
        return rng.choice(candidates, size=size, replace=False)
    if kind == "average":
        weights = counts[candidates] + 1e-9
        return rng.choice(candidates, size=size, replace=False, p=weights / weights.sum())
    if kind == "bandwagon":
        popular = candidates[np.argsort(-counts[candidates], kind="stable")[: size // 2]]
        rest = np.setdiff1d(candidates, popular)
        return rng.permutation(np.concatenate([popular, rng.choice(rest, size=size - len(popular), replace=False)]))
    donors = np.flatnonzero(sequences.lengths >= 2)
    row = sequences.row(int(rng.choice(donors)))
    return row[np.isin(row, candidates)][-size:]  # the donor's own events on a target are not copied


def target_exposure(ranking: Ranking, holdout: Holdout, targets: tuple[int, ...], k: int = 10) -> dict[str, float]:
    """HR@k of each target over the ranked (real) users whose history does not hold it, and their mean: the share
    of users who see a promoted item in their top k."""
    top = ranking.topk_items[:, :k]
    per_target = {}
    for target in targets:
        owns = np.asarray([target in holdout.inputs.row(int(r)) for r in ranking.rows])
        eligible = ~owns
        per_target[str(target)] = float((top[eligible] == target).any(axis=1).mean()) if eligible.any() else 0.0
    return {"mean": float(np.mean(list(per_target.values()))), **per_target}


def target_rank(model: Scorer, holdout: Holdout, targets: tuple[int, ...], *, batch_size: int = 256) -> float:
    """Mean share of the candidate items ranked above a target (0 = always first), over the targets and the users
    who have not seen them, seen items masked: a continuous view of exposure, which HR@10 measures only for the
    few users whose top 10 a target enters."""
    targets_t = torch.as_tensor(targets, dtype=torch.long)
    above, count = 0.0, 0
    for start in range(0, len(holdout), batch_size):
        histories = holdout.histories(np.arange(start, min(start + batch_size, len(holdout))))
        with torch.inference_mode():
            scores = model.score(histories).float().cpu()
            seen = torch.zeros_like(scores, dtype=torch.bool)
            rows = np.repeat(np.arange(len(histories)), histories.lengths)
            seen[torch.from_numpy(rows), torch.from_numpy(histories.seq[histories.mask])] = True
            scores = scores.masked_fill(seen, float("-inf"))
            target_scores = scores[:, targets_t]  # [B, T]
            eligible = ~seen[:, targets_t]
            higher = (scores[:, None, :] > target_scores[:, :, None]).sum(-1).float()  # [B, T]
            candidates = (~seen).sum(1, keepdim=True).float() - 1
            above += float((higher / candidates.clamp_min(1))[eligible].sum())
            count += int(eligible.sum())
    return above / max(count, 1)

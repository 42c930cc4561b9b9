"""Detecting injected (shilling) profiles from their behaviour statistics, with a detector trained on simulated
attacks (supervised shilling detection: the defender knows the attack models, not the attack).

Features per user (raw values: the detector is trained on the data it screens, and a rescaled copy of a discrete
feature let the trees split simulated from real attacks on the rescaling alone):
  popularity      mean log(1 + count) of the profile's items (random fillers sit low, bandwagon ones high)
  spread          their standard deviation (fillers drawn from one distribution are unusually uniform)
  overlap         the largest Jaccard overlap with another user's item set (fake profiles share their targets;
                  copied sequences share their donor's items)
  recent          mean log(1 + count) of the profile's last 5 items minus the profile's mean (a push attack's
                  targets are rarely seen items placed where a sequence model reads them most)
  recent_overlap  the largest number of the last 5 items shared with another user's last 5

    detector = ShillingDetector(seed=1).fit(train)       # simulates every attack kind into `train`
    found = detector.detect(train)                       # Detection: flagged users, probabilities
    found.precision_recall(fake_users)

A sequence model's likelihood of each profile (`SequenceLikelihood`) was measured as a feature and left out: the
model that scores the profiles was trained on them, so injected profiles it memorised look ordinary
(bench/shilling_likelihood.py, bench/results/robustness/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.data.types import Interactions
from lmrec.eval.shilling import ATTACKS, ShillingAttack, choose_targets, inject

FEATURES: tuple[str, ...] = ("popularity", "spread", "overlap", "recent", "recent_overlap")
RECENT = 5


@dataclass(frozen=True, eq=False)
class Detection:
    """Flagged user indices and each user's probability of being injected."""

    flagged: np.ndarray
    probability: np.ndarray

    def precision_recall(self, fakes: np.ndarray) -> dict[str, float]:
        """Precision and recall of the flags against the known fake users."""
        hit = int(np.isin(self.flagged, fakes).sum())
        return {"precision": hit / len(self.flagged) if len(self.flagged) else 1.0,
                "recall": hit / len(fakes) if len(fakes) else 1.0, "flagged": int(len(self.flagged))}


def profile_features(train: Interactions, *, chunk: int = 1024) -> np.ndarray:
    """[n_users, len(FEATURES)] (0 for users without training events)."""
    sequences = train.sequences()
    matrix = sequences.to_csr(train.n_items)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    log_pop = np.log1p(np.bincount(train.item, minlength=train.n_items)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        popularity = np.asarray(matrix @ log_pop).ravel() / sizes
        spread = np.sqrt(np.maximum(np.asarray(matrix @ log_pop**2).ravel() / sizes - popularity**2, 0))
    recent_rows = [sequences.row(u)[-RECENT:] for u in range(len(sequences))]
    recent_matrix = type(sequences).from_lists(recent_rows).to_csr(train.n_items)
    recent = np.asarray([log_pop[r].mean() if len(r) else np.nan for r in recent_rows]) - popularity
    overlap = _max_shared(matrix, sizes, chunk, jaccard=True)
    recent_overlap = _max_shared(recent_matrix, np.asarray(recent_matrix.sum(axis=1)).ravel(), chunk, jaccard=False)
    columns = np.stack([popularity, spread, overlap, recent, recent_overlap], axis=1)
    return np.nan_to_num(np.where(sizes[:, None] > 0, columns, 0.0), nan=0.0)


def _max_shared(matrix, sizes: np.ndarray, chunk: int, *, jaccard: bool) -> np.ndarray:
    """Per row, the largest Jaccard overlap (or count of shared items) with any other row, `chunk` rows at once."""
    out = np.zeros(matrix.shape[0])
    for start in range(0, matrix.shape[0], chunk):
        shared = (matrix[start:start + chunk] @ matrix.T).toarray()  # [c, U] items in common
        if jaccard:
            union = sizes[start:start + chunk, None] + sizes[None, :] - shared
            with np.errstate(invalid="ignore", divide="ignore"):
                shared = np.where(union > 0, shared / union, 0.0)
        rows = np.arange(start, min(start + chunk, matrix.shape[0]))
        shared[rows - start, rows] = 0.0  # not oneself
        out[rows] = shared.max(axis=1)
    return out


class ShillingDetector:
    """A gradient-boosted classifier over `profile_features`, trained on `rounds` simulated injections of each
    attack kind in `kinds` (targets and fillers drawn with seeds of its own) into the data it will screen; the
    data's own users are the negatives, each once (so the few injected profiles already among them stay a few
    mislabelled rows, not a region the classifier learns to call real). Flags users whose probability passes
    `threshold`."""

    def __init__(self, *, kinds: tuple[str, ...] = ATTACKS, rounds: int = 3, share: float = 0.01, n_targets: int = 5,
                 threshold: float = 0.5, seed: int = 1) -> None:
        self.kinds, self.rounds, self.share, self.n_targets = tuple(kinds), int(rounds), float(share), int(n_targets)
        self.threshold, self.seed = float(threshold), int(seed)
        self.classifier = None

    def fit(self, train: Interactions) -> ShillingDetector:
        from sklearn.ensemble import HistGradientBoostingClassifier

        active = np.bincount(train.user, minlength=train.n_users) > 0
        rows, labels = [profile_features(train)[active]], [np.zeros(int(active.sum()))]  # every user once
        for round_ in range(self.rounds):
            for k, kind in enumerate(self.kinds):
                seed = self.seed * 1000 + round_ * len(self.kinds) + k
                targets = choose_targets(train, self.n_targets, seed=seed)
                simulated, fakes = inject(train, ShillingAttack(kind, targets, self.share), seed=seed)
                rows.append(profile_features(simulated)[fakes])
                labels.append(np.ones(len(fakes)))
        x, y = np.concatenate(rows), np.concatenate(labels)
        self.classifier = HistGradientBoostingClassifier(max_iter=50, max_depth=3, min_samples_leaf=40,
                                                         class_weight="balanced",
                                                         random_state=self.seed).fit(x, y)
        return self

    def detect(self, train: Interactions) -> Detection:
        assert self.classifier is not None, "fit() first"
        probability = self.classifier.predict_proba(profile_features(train))[:, 1]
        active = np.bincount(train.user, minlength=train.n_users) > 0
        return Detection(np.flatnonzero((probability > self.threshold) & active), probability)

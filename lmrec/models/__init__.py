"""Built-in models; importing this package registers them (one line each)."""

from lmrec.models import (  # noqa: F401
    baselines,
    content,
    gru4rec,  # noqa: F401
    hybrid,
    mf,
    sasrec,  # noqa: F401  (first: the sequence recommender's default name is "sasrec")
    semantic,
)
from lmrec.models import lstm4rec  # noqa: F401

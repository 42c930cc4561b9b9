"""Built-in models; importing this package registers them (one line each)."""

from lmrec.models import (  # noqa: F401
    baselines,
    content,
    dcn,
    demographic,
    ensemble,
    generative,
    gru4rec,
    hybrid,
    lstm4rec,
    mf,
    ratings,
    sasrec,
    semantic,
    text_user,
    tisasrec,
    tuned_content,
)

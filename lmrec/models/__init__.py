"""Built-in models; importing this package registers them (one line each)."""

from lmrec.models import baselines, content, ensemble, gru4rec, hybrid, lstm4rec, mf, sasrec, semantic, tuned_content  # noqa: F401

"""Built-in models; importing this package registers them."""

from lmrec.models import baselines, content, hybrid, mf, sasrec, semantic  # noqa: F401

"""Scripts that train peer libraries in their own environment (`make peers`); run as files by
lmrec.pipeline.peers, they import nothing from lmrec."""

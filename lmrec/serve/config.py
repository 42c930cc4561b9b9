"""`ServeConfig`: the service's limits, auth and retrieval choices (one frozen dataclass, like every config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmrec.errors import ConfigError
from lmrec.serve.auth import TokenTable, load_tokens


@dataclass(frozen=True)
class ServeConfig:
    """How `lmrec serve` runs. Tokens (lmrec/serve/auth.py): the full-access one from `token` or the environment
    variable `token_env`, a read-only one from `read_token` / `read_token_env`, more from `tokens_file`. Without
    any token, reads and writes are refused (403) unless `allow_unauthenticated_reads` / `_writes` (a private
    deployment). `public_recommend` answers raw-history /recommend and item lookups without a token (a public
    front-end): they reveal no stored user's data."""

    token: str | None = field(default=None, repr=False)
    token_env: str = "LMREC_API_TOKEN"
    read_token: str | None = field(default=None, repr=False)
    read_token_env: str = "LMREC_READ_TOKEN"
    tokens_file: str | None = None
    allow_unauthenticated_writes: bool = False
    allow_unauthenticated_reads: bool = False
    public_recommend: bool = False
    max_k: int = 1000
    max_history: int = 1000
    max_batch: int = 1000
    max_body_bytes: int = 1 << 20
    max_category_filters: int = 100
    max_blocklist: int = 10_000
    faiss_min_items: int = 50_000
    use_faiss: bool = True
    faiss_index: str = "flat"  # flat (exact), hnsw or ivf (approximate: bench/ann_recall.py has recall and speed)
    mmr_candidates: int = 500
    rank_with: str | None = None  # a ranking model's run (`-m dcn`, same split): re-orders every retrieved top N
    rank_candidates: int = 100
    rank_weight: str = "auto"  # the ranker's weight beside the retriever's score: auto (validation), alone, W
    explain_lm: bool = False  # explained requests also get the small LM's sentence for their first item
    content_filter: str | None = None  # content rules (lmrec/ranking/filters.py): removed items are never served
    coalesce: int = 64  # most concurrent /recommend calls scored in one model call (1: one call per request)
    user_cache: int = 10_000  # user states kept between requests (dot-product models; 0: none), see user_cache.py
    event_log: str | None = None  # a SQLite path or a postgresql:// URL; default RUN_DIR/events.sqlite
    watch_updates_s: float = 0.0  # > 0: look this often for a version `lmrec update` made current, and serve it
    torch_threads: int | None = 1  # set by `lmrec serve`, not by create_app (process-wide)
    device: str = "cpu"  # where the model scores: cpu, cuda, cuda:N (`lmrec serve --device`)

    def __post_init__(self) -> None:
        if self.faiss_index not in ("flat", "hnsw", "ivf"):
            raise ConfigError(f"faiss_index={self.faiss_index!r} is not one of flat, hnsw, ivf")
        limits = {"max_k": self.max_k, "max_history": self.max_history, "max_batch": self.max_batch,
                  "max_body_bytes": self.max_body_bytes, "mmr_candidates": self.mmr_candidates,
                  "faiss_min_items": self.faiss_min_items, "coalesce": self.coalesce}
        if isinstance(self.user_cache, bool) or not isinstance(self.user_cache, int) or self.user_cache < 0:
            raise ConfigError(f"ServeConfig.user_cache={self.user_cache!r} must be an integer >= 0")
        for name, value in limits.items():
            if int(value) < 1:
                raise ConfigError(f"ServeConfig.{name}={value!r} must be a positive integer")

    def tokens(self) -> TokenTable:
        """Every configured token with its scopes (ConfigError for a malformed one, naming where it came from)."""
        return load_tokens(full=self.token, full_env=self.token_env, read=self.read_token,
                           read_env=self.read_token_env, tokens_file=self.tokens_file)

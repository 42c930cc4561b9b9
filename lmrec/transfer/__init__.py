"""Transfer learning: pre-train an inductive text sequence model on source catalogues, apply it zero-shot to a new
catalogue, or fine-tune it on a few of the target's users (recommender, adapter, LoRA or end-to-end)."""

from lmrec.transfer.api import pretrain_sources, transfer_config, transfer_overrides, transfer_run
from lmrec.transfer.finetune import load_pretrained
from lmrec.transfer.pretrain import PretrainConfig, pretrain, resolve_pretrain_config

__all__ = ["PretrainConfig", "load_pretrained", "pretrain", "pretrain_sources", "resolve_pretrain_config",
           "transfer_config", "transfer_overrides", "transfer_run"]

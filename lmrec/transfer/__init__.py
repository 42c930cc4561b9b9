"""Transfer learning: pre-train an inductive text sequence model on source catalogues, and start a model on a new
catalogue from it (zero-shot, or fine-tuning the recommender, the adapter, LoRA in the LM, or everything).

The run pipeline calls `fit_pretrained` for a model whose config names a checkpoint; `lmrec.pipeline.transfer`
has the run-level API (`transfer_run`, `pretrain_sources`).
"""

from lmrec.transfer.finetune import fit_pretrained, load_pretrained, pretrained_spec
from lmrec.transfer.pretrain import PretrainConfig, pretrain, resolve_pretrain_config

__all__ = ["PretrainConfig", "fit_pretrained", "load_pretrained", "pretrain", "pretrained_spec",
           "resolve_pretrain_config"]

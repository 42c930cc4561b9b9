"""The sequence-model core: one config, a module with named operations, sequence nets registered by name,
training windows, and the recommender every sequence preset (sasrec, gru4rec, lstm4rec, ...) shares.

A new net is one file: its `nn.Module`, `@register_net("name")` and a `register(...)` of a preset of
`SequentialRecommender` (see ARCHITECTURE.md, "Add a model", and lmrec/models/lstm4rec.py).
"""

from lmrec.models.sequence.config import FINETUNE_MODES, FinetuneMode, ItemRepr, SequentialConfig
from lmrec.models.sequence.module import SequenceModule, neighbour_mean
from lmrec.models.sequence.nets import Dropout, build_net, net_names, register_net
from lmrec.models.sequence.recommender import SequentialRecommender

# Small-data settings: every sequence preset trains on the toy data (lmrec.testing.toy) in seconds with these.
SEQUENCE_TINY = {"dim": 32, "heads": 2, "hidden": 32, "max_len": 16, "dropout": 0.1, "encoder": {"cache": False},
                 "train": {"epochs": 40, "batch_size": 32, "lr": 0.01, "patience": 40, "threads": 1}}

__all__ = ["FINETUNE_MODES", "SEQUENCE_TINY", "Dropout", "FinetuneMode", "ItemRepr", "SequenceModule",
           "SequentialConfig", "SequentialRecommender", "build_net", "neighbour_mean", "net_names", "register_net"]

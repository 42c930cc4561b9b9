"""Where do new items land? Label-free diagnostics for the cold-start item protocol (no test target is read).

Fits each model as `lmrec cold-start` does (same split, defaults, seed 0), adds the new items, then reports per
model: the norm of item vectors (known vs new; for fused models also the text and ID parts and alpha), and over the
test users' queries the share whose top-10 holds at least one new item and the median rank of the best new item.

    OMP_NUM_THREADS=1 python bench/coldstart_diagnose.py --models sasrec-fused,sasrec-text
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from lmrec.data.config import load_data
from lmrec.data.split import SplitConfig
from lmrec.eval.coldstart import cold_start_data, place_items
from lmrec.models.base import mask_seen
from lmrec.models.registry import create_model
from lmrec.models.sequence import SequentialRecommender
from lmrec.pipeline import build_config

OFFICE = "../shared/data/amazon-office-2014/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="sasrec-fused,sasrec-text")
    parser.add_argument("--interactions", default=OFFICE + "interactions.csv")
    parser.add_argument("--items", default=OFFICE + "items.csv")
    parser.add_argument("--order-col", default="seq")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = build_config(None, {"data": {"interactions": args.interactions, "items": args.items,
                                          "order_col": args.order_col}, "model": {"name": "pop"}})
    data = cold_start_data(load_data(config.data, config.prepare), SplitConfig(method="global_time", test_quantile=0.9,
                                                          valid_quantile=0.8))
    print(f"{data.n_known} known + {data.n_items - data.n_known} new items; {len(data.test)} test users")
    for name in args.models.split(","):
        model = create_model(name).fit(data.train, valid=data.valid, catalog=data.known_catalog)
        place_items(model, data)
        print(f"\n{name}:")
        for line in vector_norms(model, data.n_known):
            print("  " + line)
        share, median = new_items_in_top(model, data, k=10)
        print(f"  test queries whose top-10 holds a new item: {share:.1%}; median rank of the best new item: "
              f"{median:.0f} (of {data.n_items})")


def vector_norms(model, n_known: int) -> list[str]:
    """Mean L2 norm of the item table rows, known vs new, and of a fused tower's parts."""
    if not isinstance(model, SequentialRecommender):
        return []
    module = model.module_
    with torch.no_grad():
        parts = {"item vector": module.item_table()}
        if module.id_part is not None and module.text_part is not None:
            alpha = module.parameter_groups()["alpha"][0]
            parts["text part"] = module.text_part()
            parts["alpha * ID part"] = alpha * module.id_part()
    lines = [f"{part}: known {rows[:n_known].norm(dim=1).mean():.3f}, new {rows[n_known:].norm(dim=1).mean():.3f}"
             for part, rows in parts.items()]
    if module.parameter_groups()["alpha"]:
        lines.append(f"alpha = {float(module.parameter_groups()['alpha'][0].detach()):.3f}")
    return lines


def new_items_in_top(model, data, k: int) -> tuple[float, float]:
    """Share of test queries with a new item in the top k (history masked) and the median best-new-item rank."""
    best = []
    for start in range(0, len(data.test), 512):
        histories = data.test.inputs.histories(np.arange(start, min(start + 512, len(data.test))))
        with torch.no_grad():
            scores = mask_seen(model.score(histories).float().clone(), histories)  # [B, N]
        top_new = scores[:, data.n_known:].max(dim=1).values  # [B]
        best.append((scores > top_new[:, None]).sum(dim=1).numpy())  # 0-based rank of the best new item
    ranks = np.concatenate(best)
    return float((ranks < k).mean()), float(np.median(ranks) + 1)


if __name__ == "__main__":
    main()

"""SASRec (ID-only) on MovieLens-100K: training time and test NDCG@10 beside RecBole's SASRec on this machine.

    LMREC_DATA_DIR=../shared/data .venv/bin/python bench/sasrec_timing.py [--seeds 0,1,2]

Each seed is a separate `lmrec fit` + `lmrec evaluate` process; the load average before and after each fit is
recorded, because the 2 cores are shared. Writes bench/results/sasrec_timing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHORS = Path(os.environ.get("LMREC_ANCHORS", REPO.parent / "shared" / "anchors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sasrec_timing.md")
    args = parser.parse_args()
    lmrec = str(Path(sys.executable).with_name("lmrec"))
    recbole = json.loads((ANCHORS / "recbole" / "results" / "SASRec.json").read_text())
    recbole_fit = float(recbole["time_fit_total_s"])
    best_recbole = max(
        (json.loads(p.read_text()).get("test_own_history_masked") or {}).get("ndcg@10", 0.0)
        for p in (ANCHORS / "recbole" / "results").glob("*.json")
    )
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        run_dir = REPO / "runs" / f"timing-{args.model}-{seed}"
        load_before = os.getloadavg()
        subprocess.run([lmrec, "fit", "--dataset", "ml-100k", "--model", args.model, "--seed", str(seed),
                        "--out", str(run_dir)], check=True)
        load_after = os.getloadavg()
        subprocess.run([lmrec, "evaluate", str(run_dir), "-k", "10"], check=True, stdout=subprocess.DEVNULL)
        meta = json.loads((run_dir / "meta.json").read_text())
        test = json.loads((run_dir / "metrics.json").read_text())["test"]
        fit_log = meta.get("fit_log") or {}
        rows.append({"seed": seed, "ndcg": test["ndcg@10"], "ci": test["ci"]["ndcg@10"], "fit": meta["fit_seconds"],
                     "best_epoch": fit_log.get("best_epoch"), "epochs": len(fit_log.get("epochs") or []),
                     "load": (load_before[0], load_after[0]), "split": meta["split"]["fingerprint"],
                     "versions": meta["versions"]})
    lines = [
        f"# {args.model} on ml-100k: time and accuracy vs RecBole",
        "",
        f"Command: `{' '.join(['python', 'bench/sasrec_timing.py', '--seeds', args.seeds, '--model', args.model])}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; split fingerprint `{rows[0]['split']}`; torch "
        f"{rows[0]['versions'].get('torch')}; 2-core CPU, default threads.  ",
        "Protocol: per-user leave-one-out by time, full ranking over 1,682 items, history masked (as RecBole's "
        "'history masked' table).",
        "",
        "| seed | NDCG@10 | 95% CI | fit (s) | best epoch / epochs | load avg before → after |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['ndcg']:.4f} | [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | {r['fit']:.1f} | "
                     f"{r['best_epoch']}/{r['epochs']} | {r['load'][0]:.2f} → {r['load'][1]:.2f} |")
    mean_ndcg = sum(r["ndcg"] for r in rows) / len(rows)
    worst_fit = max(r["fit"] for r in rows)
    lines += [
        "",
        f"RecBole SASRec fit time here: {recbole_fit:.1f} s (wall-clock capped; see anchors); 1/20 of it = "
        f"{recbole_fit / 20:.1f} s. Best RecBole NDCG@10 (history masked) among its models: {best_recbole:.4f}.",
        "",
        f"lmrec {args.model}: mean NDCG@10 {mean_ndcg:.4f} over {len(rows)} seeds (min "
        f"{min(r['ndcg'] for r in rows):.4f}); slowest fit {worst_fit:.1f} s = 1/{recbole_fit / worst_fit:.0f} "
        "of RecBole's.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

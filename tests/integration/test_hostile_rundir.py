"""Tampered, corrupt or hostile run directories and configs: every case is one line naming the file (or field) and
exit code 2; nothing is read from outside the run directory; nothing hangs or allocates without bound."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from toy_runs import fit_toy_run, two_groups
from typer.testing import CliRunner

from lmrec.cli import app

Tamper = Callable[[Path], None]
BOMB = "a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    model = {"name": "lm-content", "encoder": {"kind": "tfidf", "tfidf_dim": 16}}
    out = fit_toy_run(two_groups(), tmp_path_factory.mktemp("runs") / "content", model)
    result = CliRunner().invoke(app, ["evaluate", str(out), "-k", "5"])
    assert result.exit_code == 0, result.output
    return out


def write(name: str, content: bytes | str) -> Tamper:
    def tamper(home: Path) -> None:
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tamper


def symlink(name: str, target: str) -> Tamper:
    def tamper(home: Path) -> None:
        outside = home.parent / target
        outside.write_bytes(b"")
        (home / name).unlink(missing_ok=True)
        (home / name).symlink_to(outside)
    return tamper


def version_pointer(version: str, *, make_link: bool = False) -> Tamper:
    def tamper(home: Path) -> None:
        if make_link:
            (home / "versions").mkdir(exist_ok=True)
            (home / "versions" / version).symlink_to(home.parent)
        (home / "update_state.json").write_text(json.dumps({"version": version, "last_event_id": 0, "updates": 1}))
    return tamper


def remove(name: str) -> Tamper:
    def tamper(home: Path) -> None:
        path = home / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return tamper


RANDOM = np.random.default_rng(0).bytes(4096)
# (case id, tamper, file or field the one line must name)
CASES = [
    ("meta-not-json", write("meta.json", "{not json"), "meta.json"),
    ("meta-bad-utf8", write("meta.json", b"{\"a\": \"\xff\"}"), "meta.json"),
    ("meta-not-object", write("meta.json", "[1, 2]"), "meta.json"),
    ("ids-not-json", write("ids.json", "{"), "ids.json"),
    ("ids-wrong-shape", write("ids.json", json.dumps({"users": "u", "items": 3})), "ids.json"),
    ("ids-too-few-items", write("ids.json", json.dumps({"users": ["user0"], "items": ["item00"]})), "ids.json"),
    ("update-state-not-json", write("update_state.json", "\x00\x01"), "update_state.json"),
    ("update-state-traversal", version_pointer("../../elsewhere"), "update_state.json"),
    ("update-state-dotdot", version_pointer(".."), "update_state.json"),
    ("update-state-absolute", version_pointer("/etc"), "update_state.json"),
    ("update-state-missing-version", version_pointer("v00009"), "update_state.json"),
    ("update-state-linked-version", version_pointer("v00001", make_link=True), "v00001"),
    ("update-state-bad-cursor", write("update_state.json", json.dumps({"version": None, "last_event_id": "x"})),
     "update_state.json"),
    ("history-random-bytes", write("history.npz", RANDOM), "history.npz"),
    ("history-zip-garbage", write("history.npz", b"PK\x03\x04" + RANDOM), "history.npz"),
    ("history-empty", write("history.npz", b""), "history.npz"),
    ("split-random-bytes", write("split.npz", RANDOM), "split.npz"),
    ("catalog-random-bytes", write("catalog.parquet", RANDOM), "catalog.parquet"),
    ("catalog-meta-missing-keys", write("catalog.json", "{}"), "catalog"),
    ("weights-random-bytes", write("model/weights.safetensors", RANDOM), "weights.safetensors"),
    ("model-config-not-yaml", write("model/config.yaml", "model: [unclosed"), "config.yaml"),
    ("config-yaml-bomb", write("config.yaml", BOMB), "config.yaml"),
    ("config-not-mapping", write("config.yaml", "- 1\n- 2\n"), "config.yaml"),
    ("config-bad-utf8", write("config.yaml", b"seed: \xff\xfe\n"), "config.yaml"),
    ("config-huge", write("config.yaml", "seed: 0\n" + "#" * (2 << 20)), "config.yaml"),
    ("config-nan-weight", write("model/config.yaml", "model: ease\nconfig: {reg_weight: .nan}\n"), "reg_weight"),
    ("model-missing", remove("model"), "model"),
    ("ids-missing", remove("ids.json"), "ids.json"),
]


@pytest.mark.parametrize(("tamper", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("verb", ["evaluate", "recommend"])
def test_a_tampered_run_is_one_line_and_exit_2(run, tmp_path, tamper, names, verb) -> None:
    home = Path(shutil.copytree(run, tmp_path / "home"))
    tamper(home)
    args = [verb, str(home)] + (["--user", "user0", "-k", "3"] if verb == "recommend" else ["-k", "5"])
    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    assert time.perf_counter() - started < 60  # no hang, no alias expansion
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    assert names in output, output


@pytest.mark.parametrize("args", [["evaluate", "-k", "100000"], ["recommend", "--user", "user0", "-k", "100000"],
                                  ["evaluate", "-k", "0"]])
def test_a_k_beyond_the_catalogue_is_refused(run, tmp_path, args) -> None:
    home = Path(shutil.copytree(run, tmp_path / "home"))
    result = CliRunner().invoke(app, [args[0], str(home), *args[1:]])
    assert result.exit_code == 2 and "-k" in result.output and len(result.output.strip().splitlines()) == 1, \
        result.output


def test_a_yaml_bomb_in_set_or_config_is_refused_fast(tmp_path) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(BOMB)
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["fit", "--config", str(config), "--dataset", "ml-100k", "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2 and "aliases" in result.output and time.perf_counter() - started < 30


def test_error_messages_do_not_echo_huge_values(tmp_path) -> None:
    result = CliRunner().invoke(app, ["fit", "--dataset", "ml-100k", "--model", "ease", "--set",
                                      "model.reg_weight=" + "x" * 5000, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and len(result.output) < 400, result.output


def test_nan_in_a_set_value_is_refused(tmp_path) -> None:
    result = CliRunner().invoke(app, ["fit", "--dataset", "ml-100k", "--model", "ease", "--set",
                                      "model.reg_weight=.nan", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "finite" in result.output


def test_fit_will_not_overwrite_a_foreign_directory_or_a_versioned_run(run, tmp_path) -> None:
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("years of work")
    result = CliRunner().invoke(app, ["fit", "--dataset", "ml-100k", "--model", "pop", "--out", str(foreign)])
    assert result.exit_code == 2 and "not an lmrec run" in result.output
    assert (foreign / "thesis.txt").read_text() == "years of work"
    home = Path(shutil.copytree(run, tmp_path / "home"))
    (home / "update_state.json").write_text(json.dumps({"version": "v00001", "last_event_id": 3, "updates": 1}))
    result = CliRunner().invoke(app, ["fit", "--dataset", "ml-100k", "--model", "pop", "--out", str(home)])
    assert result.exit_code == 2 and "lmrec update" in result.output


@pytest.mark.parametrize("case", ["linked-events", "corrupt-events", "bad-wal", "added-items-dir",
                                  "added-items-linked"])
def test_the_service_refuses_tampered_state_files_at_start(run, tmp_path, case) -> None:
    from lmrec.errors import LmrecError
    from lmrec.serve import ServeConfig, create_app

    home = Path(shutil.copytree(run, tmp_path / "home"))
    if case == "linked-events":
        symlink("events.sqlite", "elsewhere.sqlite")(home)
    elif case == "corrupt-events":
        (home / "events.sqlite").write_bytes(b"SQLite format 3\x00" + RANDOM)
    elif case == "bad-wal":
        (home / "events.sqlite-wal").write_bytes(RANDOM)
    elif case == "added-items-dir":
        (home / "added_items.jsonl").mkdir()
    else:
        symlink("added_items.jsonl", "elsewhere.jsonl")(home)
    with pytest.raises(LmrecError) as error:
        create_app(home, ServeConfig(token="t0k3n"))
    name = {"linked-events": "events.sqlite", "corrupt-events": "events.sqlite", "bad-wal": "events.sqlite-wal"}
    assert name.get(case, "added_items.jsonl") in str(error.value) and "\n" not in str(error.value)


def test_unreadable_added_item_lines_are_counted_not_fatal(run, tmp_path, caplog) -> None:
    from fastapi.testclient import TestClient

    from lmrec.serve import ServeConfig, create_app

    home = Path(shutil.copytree(run, tmp_path / "home"))
    (home / "added_items.jsonl").write_bytes(
        b'{"item_id": "n1", "text": "red apple fruit"}\n{"item_id": "n\xff2", "text": "x"}\n'
        b'{"item_id": "n3", "text": "blue", "attributes": {"w": NaN}}\n{"item_id": "torn", "te')
    with caplog.at_level("WARNING"):
        client = TestClient(create_app(home, ServeConfig(token="t0k3n")), headers={"Authorization": "Bearer t0k3n"})
    assert client.get("/items/n1").status_code == 200 and client.get("/items/n3").status_code == 404
    assert "2 unreadable added-item record(s) skipped (lines 2, 3)" in caplog.text


def test_an_empty_event_log_file_is_stated(run, tmp_path, caplog) -> None:
    from lmrec.online.events import EventLog

    path = tmp_path / "events.sqlite"
    path.write_bytes(b"")
    with caplog.at_level("WARNING"), EventLog(path) as log:
        assert log.count() == 0
    assert "empty (0 bytes)" in caplog.text


def test_nan_attributes_are_refused_at_the_door(run, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from lmrec.serve import ServeConfig, create_app

    home = Path(shutil.copytree(run, tmp_path / "home"))
    client = TestClient(create_app(home, ServeConfig(token="t0k3n")), headers={"Authorization": "Bearer t0k3n"})
    for bad in ('{"item_id": "n1", "text": "x", "attributes": {"w": NaN}}',
                '{"item_id": "n1", "text": "x", "attributes": {"w": Infinity}}',
                '{"item_id": "n1", "text": "x", "attributes": {"w": [1, -Infinity]}}'):
        response = client.post("/items", content=bad, headers={"content-type": "application/json"})
        assert response.status_code == 422 and "attributes" in response.json()["detail"], response.text
    assert not (home / "added_items.jsonl").exists() or "NaN" not in (home / "added_items.jsonl").read_text()
    assert os.environ.get("LMREC_TEST_UNUSED") is None


def test_a_full_disk_is_507_and_stores_nothing(run, tmp_path, monkeypatch) -> None:
    import sqlite3
    from contextlib import contextmanager

    from fastapi.testclient import TestClient

    from lmrec.online.events import EventLog
    from lmrec.serve import ServeConfig, create_app

    home = Path(shutil.copytree(run, tmp_path / "home"))
    client = TestClient(create_app(home, ServeConfig(token="t0k3n")), headers={"Authorization": "Bearer t0k3n"})

    @contextmanager
    def full(self):
        raise sqlite3.OperationalError("database or disk is full")
        yield  # pragma: no cover

    monkeypatch.setattr(EventLog, "_transaction", full)
    response = client.post("/events", json={"user_id": "user0", "item_id": "item01"})
    assert response.status_code == 507 and "no space left" in response.json()["detail"]
    assert client.get("/health").json()["events_ingested"] == 0

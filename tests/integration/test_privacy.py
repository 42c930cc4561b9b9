"""Pseudonymous runs hold no raw user ID in any file; erasure removes a user from the log, histories, split and
exported rows, audits it and leaves the model marked for retraining; writes are audited without the token."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app  # noqa: E402
from lmrec.errors import ConfigError  # noqa: E402
from lmrec.online.audit import AuditLog  # noqa: E402
from lmrec.online.events import EventLog  # noqa: E402
from lmrec.pipeline import load_run  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402

KEY = "a-pseudonym-key-of-32-characters"
FULL, READ = "full-access-token-1", "read-only-token-22"
USERS = [f"alice.{u}@example.org" for u in range(30)]


def interactions(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = [(user, f"i{i}", 1_600_000_000 + t) for u, user in enumerate(USERS)
            for t, i in enumerate(rng.choice(np.arange(12) + 12 * (u % 2), size=6, replace=False))]
    path = folder / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    return path


def fit(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["fit", "--interactions", str(interactions(tmp_path)), "--model", "itemknn",
                                      "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(app, ["evaluate", str(out), "-k", "5"]).exit_code == 0
    return out


def every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_pseudonymous_run_holds_no_raw_user_id_anywhere(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LMREC_PSEUDONYM_KEY", raising=False)
    result = CliRunner().invoke(app, ["fit", "--interactions", str(interactions(tmp_path)), "--model", "pop",
                                      "--pseudonymize", "--out", str(tmp_path / "nokey")])
    assert result.exit_code == 2 and "LMREC_PSEUDONYM_KEY" in result.output
    monkeypatch.setenv("LMREC_PSEUDONYM_KEY", KEY)
    run = fit(tmp_path, "--pseudonymize")
    client = TestClient(create_app(run, ServeConfig(token=FULL)), headers={"Authorization": f"Bearer {FULL}"})
    assert client.post("/recommend", json={"user_id": USERS[0], "k": 3}).status_code == 200  # raw ID at the edge
    assert client.post("/events", json={"user_id": USERS[1], "item_id": "i3"}).status_code == 201
    assert client.post("/events", json={"user_id": "bob@new.example", "item_id": "i4"}).status_code == 201
    assert client.get("/users/bob@new.example").json()["history"] == ["i4"]
    client.app.state.serving.close()
    cli = CliRunner().invoke(app, ["recommend", str(run), "--user", USERS[2], "-k", "3"])
    assert cli.exit_code == 0, cli.output
    content = every_byte(run)
    for raw in [*USERS, "bob@new.example", "example.org", KEY]:
        assert raw.encode() not in content, raw
    assert b"p_" in content  # the pseudonyms are what the files hold
    monkeypatch.delenv("LMREC_PSEUDONYM_KEY")
    with pytest.raises(ConfigError, match="LMREC_PSEUDONYM_KEY"):
        create_app(run, ServeConfig(token=FULL))


def test_forget_erases_a_user_everywhere_and_the_next_update_trains_without_them(tmp_path) -> None:
    run = fit(tmp_path)
    gone, kept = USERS[3], USERS[4]
    with EventLog(run / "events.sqlite") as log:
        log.append_once([])
        log.append([_event(gone, "i1"), _event(kept, "i2"), _event(gone, "i5")])
    result = CliRunner().invoke(app, ["forget", str(run), "--user", gone])
    assert result.exit_code == 0, result.output
    assert "2 events" in result.output
    with EventLog(run / "events.sqlite") as log:
        assert [e.user_id for e in log.since(0)] == [kept]
    loaded = load_run(run)
    assert gone not in loaded.users and len(loaded.users) == len(USERS)  # tombstoned, no index shifted
    assert gone.encode() not in every_byte(run).replace(b"events.sqlite", b"")
    for name in ("recommendations.csv", "targets.csv", "per_user.csv"):
        assert gone not in (run / name).read_text()
    state = json.loads((run / "update_state.json").read_text())
    assert state["retrain_required"] is True and state["erasures"] == 1
    audit = AuditLog(run / "audit.jsonl").entries()
    assert audit[-1]["action"] == "erase" and audit[-1]["events"] == 2 and gone not in json.dumps(audit)
    assert audit[-1]["subject"] == AuditLog(run / "audit.jsonl").subject_hash(gone)
    assert CliRunner().invoke(app, ["forget", str(run), "--user", gone]).exit_code == 2  # nothing left of them
    updated = CliRunner().invoke(app, ["update", str(run)])
    assert updated.exit_code == 0, updated.output
    assert "1 events" in " ".join(updated.output.split())  # the kept user's event only
    assert json.loads((run / "update_state.json").read_text())["retrain_required"] is True  # weights still carry
    refit = CliRunner().invoke(app, ["fit", "--interactions", str(tmp_path / "log.csv"), "--model", "itemknn",
                                     "--out", str(run)])
    assert refit.exit_code == 2 and "lmrec update" in refit.output  # versioned: fit a new directory


def test_delete_user_needs_admin_and_erases_through_the_service(tmp_path) -> None:
    run = fit(tmp_path)
    home = Path(shutil.copytree(run, tmp_path / "home"))
    client = TestClient(create_app(home, ServeConfig(token=FULL, read_token=READ)))
    full, read = {"Authorization": f"Bearer {FULL}"}, {"Authorization": f"Bearer {READ}"}
    assert client.post("/events", json={"user_id": USERS[5], "item_id": "i7"}, headers=full).status_code == 201
    assert client.delete(f"/users/{USERS[5]}").status_code == 401
    assert client.delete(f"/users/{USERS[5]}", headers=read).status_code == 403
    response = client.delete(f"/users/{USERS[5]}", headers=full)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["events"] == 1 and response.json()["retrain_required"] is True
    assert client.get(f"/users/{USERS[5]}", headers=read).status_code == 404
    assert client.post("/recommend", json={"user_id": USERS[5]}, headers=read).status_code == 404
    assert client.delete(f"/users/{USERS[5]}", headers=full).status_code == 404
    assert client.post("/recommend", json={"user_id": USERS[6]}, headers=read).status_code == 200  # others stay
    restarted = TestClient(create_app(home, ServeConfig(token=FULL)))
    assert restarted.get(f"/users/{USERS[5]}", headers=full).status_code == 404


def test_writes_are_audited_without_the_token(tmp_path) -> None:
    run = fit(tmp_path)
    client = TestClient(create_app(run, ServeConfig(token=FULL)), headers={"Authorization": f"Bearer {FULL}"})
    assert client.post("/events", json=[{"user_id": USERS[0], "item_id": "i1"}] * 3).status_code == 201
    entries = AuditLog(run / "audit.jsonl").entries()
    assert entries[-1]["action"] == "events" and entries[-1]["count"] == 3
    assert entries[-1]["who"].startswith("token:") and FULL not in (run / "audit.jsonl").read_text()


def _event(user: str, item: str):
    from lmrec.online.events import Event

    return Event(user, item)

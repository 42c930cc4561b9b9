"""RunDir owns a run directory's layout and version pointer: the current version, a missing or hostile one."""

import json
from pathlib import Path

import pytest

from lmrec.errors import ModelFileError
from lmrec.pipeline.rundir import ModelFiles, RunDir


def test_a_run_never_updated_is_its_own_current_version(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.update_state() == {"version": None, "last_event_id": 0, "updates": 0, "carried_event_ids": []}
    assert run.current() == (None, ModelFiles(tmp_path)) and run.current()[1].model == tmp_path / "model"
    assert run.model == tmp_path / "model" and run.events == tmp_path / "events.sqlite"


def test_the_pointer_names_the_current_version_folder(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    (run.versions / "v1").mkdir(parents=True)
    run.commit_update_state({"version": "v1", "last_event_id": 7, "updates": 1})
    assert run.current() == ("v1", ModelFiles(tmp_path / "versions" / "v1"))
    assert run.update_state()["last_event_id"] == 7


@pytest.mark.parametrize("state, message", [
    ({"version": "v9"}, "is missing"),
    ({"version": "../../etc"}, "bad version name"),
    ({"version": ".hidden"}, "bad version name"),
])
def test_a_bad_pointer_is_one_clear_error(tmp_path: Path, state: dict, message: str) -> None:
    (tmp_path / "update_state.json").write_text(json.dumps(state))
    with pytest.raises(ModelFileError, match=message):
        RunDir(tmp_path).current()


def test_an_unreadable_state_file_is_a_model_file_error(tmp_path: Path) -> None:
    (tmp_path / "update_state.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="unreadable update state"):
        RunDir(tmp_path).update_state()
    (tmp_path / "update_state.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not a JSON object"):
        RunDir(tmp_path).update_state()


def test_require_complete_names_the_missing_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("{}")
    with pytest.raises(ModelFileError, match="missing ids.json"):
        RunDir(tmp_path).require_complete()

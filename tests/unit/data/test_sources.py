"""Resolution order, downloads through a local HTTP server (the real urllib path), checksums, cache reuse."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import logging
import threading
import zipfile
from pathlib import Path

import pytest
from data_fakes import write_amazon_2014, write_ml1m, write_ml100k

from lmrec.data import builtin, dataset_info, dataset_names, load_dataset
from lmrec.data.download import Pin, file_digests
from lmrec.errors import DataError


class _Server:
    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    serving = _Server(root)
    for key in builtin.BASE_URLS:
        monkeypatch.setitem(builtin.BASE_URLS, key, serving.url)
    yield serving, root
    serving.httpd.shutdown()
    serving.httpd.server_close()


def _zip_ml100k(tmp_path: Path, root: Path) -> Path:
    folder = write_ml100k(tmp_path / "src" / "ml-100k")
    (root / "movielens").mkdir()
    with zipfile.ZipFile(root / "movielens" / "ml-100k.zip", "w") as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, f"ml-100k/{file.name}")
    return folder


def _pin_to(folder: Path, monkeypatch) -> None:
    """Pin the fake files' own checksums (the real pins are the official files')."""
    original = builtin._ml_100k
    pins = {
        n: Pin("sha256", hashlib.sha256((folder / n).read_bytes()).hexdigest()) for n in ("u.data", "u.item")
    }
    monkeypatch.setattr(builtin, "_ml_100k", lambda: dataclasses.replace(original(), pins=pins))


def test_download_verifies_caches_and_reuses(tmp_path, server, monkeypatch):
    httpd, root = server
    folder = _zip_ml100k(tmp_path, root)
    _pin_to(folder, monkeypatch)
    seen = []
    ds = load_dataset("ml-100k", cache_dir=tmp_path / "cache", progress=lambda *a: seen.append(a))
    assert ds.n_users == 2 and httpd.requests == ["/movielens/ml-100k.zip"]
    assert seen and seen[-1][0] == "ml-100k.zip" and seen[-1][1] == seen[-1][2]
    cached = tmp_path / "cache" / "datasets" / "ml-100k"
    manifest = json.loads((cached / "manifest.json").read_text())
    assert manifest["files"]["u.data"]["pinned"] == "sha256" and manifest["files"]["u.user"]["pinned"] is None
    assert sorted(p.name for p in cached.iterdir()) == [
        "manifest.json",
        "u.data",
        "u.genre",
        "u.item",
        "u.user",
    ]
    again = load_dataset("ml-100k", cache_dir=tmp_path / "cache")
    assert httpd.requests == ["/movielens/ml-100k.zip"]  # second call: no download
    assert again.digest() == ds.digest()
    info = dataset_info("ml-100k", cache_dir=tmp_path / "cache")
    assert info["origin"] == "cache" and info["files"]["u.data"]["matches_pin"] is True


def test_checksum_mismatch_is_an_error_and_leaves_no_cache(tmp_path, server):
    _, root = server
    _zip_ml100k(tmp_path, root)  # the real pins are those of the official files: these differ
    with pytest.raises(DataError, match="checksum mismatch for u.data") as info:
        load_dataset("ml-100k", cache_dir=tmp_path / "cache")
    assert "ml-100k.zip" in str(info.value)
    cached = tmp_path / "cache" / "datasets" / "ml-100k"
    assert not (cached / "manifest.json").exists() and not (cached / "u.data").exists()
    with pytest.raises(DataError, match="download is off"):
        load_dataset("ml-100k", cache_dir=tmp_path / "cache", download=False)


def test_http_error_names_url(tmp_path, server):
    with pytest.raises(DataError, match="HTTP 404") as info:
        load_dataset("ml-latest-small", cache_dir=tmp_path / "cache")
    assert "ml-latest-small.zip" in str(info.value)


def test_amazon_download_records_unpinned_checksums(tmp_path, server, caplog):
    httpd, root = server
    write_amazon_2014(root)
    with caplog.at_level(logging.WARNING):
        ds = load_dataset("amazon-office-2014")  # cache from $LMREC_CACHE (isolated by tests/conftest.py)
    assert ds.n_items == 3 and len(httpd.requests) == 2
    assert "no pinned checksum" in caplog.text
    info = dataset_info("amazon-2014:Office_Products", download=False)
    entry = info["files"]["reviews_Office_Products_5.json.gz"]
    assert entry["pinned"] is None and len(entry["sha256"]) == 64 and info["origin"] == "cache"


def test_resolution_order_data_dir_env_cache(tmp_path, monkeypatch, caplog):
    explicit = write_ml100k(tmp_path / "explicit" / "ml-100k")
    env = write_ml100k(tmp_path / "env" / "ml-100k")
    (env / "u.data").write_text("9\t10\t1\t1\n9\t20\t1\t2\n")
    monkeypatch.setenv("LMREC_DATA_DIR", str(tmp_path / "env"))
    assert "9" not in load_dataset("ml-100k", data_dir=explicit.parent).users
    with caplog.at_level(logging.WARNING):
        assert "9" in load_dataset("ml-100k", download=False).users
    assert "differs from the official release" in caplog.text  # local files are read, with a warning
    monkeypatch.setenv("LMREC_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match="not in the cache"):
        load_dataset("ml-100k", download=False)


def test_names_and_aliases():
    names = dataset_names()
    assert {"ml-100k", "ml-1m", "ml-latest-small", "lastfm-hetrec", "amazon-2014:<Category>"} <= set(names)
    assert builtin.source_for("amazon-office-2014").name == "amazon-2014:Office_Products"
    assert builtin.source_for("AMAZON-2018:Books").slug == "amazon-2018-Books"
    assert (
        builtin.source_for("amazon-2018:Books").remotes[0].url.endswith("categoryFilesSmall/Books_5.json.gz")
    )
    with pytest.raises(DataError, match="not an Amazon category"):
        builtin.source_for("amazon-2014:../etc")


def test_dataset_info_on_files_and_folders(tmp_path, ml100k_dir):
    info = dataset_info(ml100k_dir)
    assert info["origin"] == "folder" and info["users"] == 2 and set(info["files"]) >= {"u.data", "u.item"}
    assert info["files"]["u.data"]["matches_pin"] is False
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,timestamp\na,x,1\n")
    info = dataset_info(path)
    assert info["interactions"] == 1 and info["files"]["e.csv"]["bytes"] == path.stat().st_size
    with pytest.raises(DataError, match="file not found"):
        dataset_info(tmp_path / "missing.csv")


def test_ml1m_ratings_are_pinned_by_git_blob_id(tmp_path, server):
    _, root = server
    folder = write_ml1m(tmp_path / "src" / "ml-1m")
    (root / "movielens").mkdir()
    with zipfile.ZipFile(root / "movielens" / "ml-1m.zip", "w") as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, f"ml-1m/{file.name}")
    with pytest.raises(DataError, match="checksum mismatch for ratings.dat: expected gitblob 77a7c4b1"):
        load_dataset("ml-1m")


def test_git_blob_digest_matches_git_hash_object(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    assert file_digests(path)["gitblob"] == "ce013625030ba8dba906f756967f9e9ca394464a"

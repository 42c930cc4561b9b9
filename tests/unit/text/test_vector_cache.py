"""CachedEncoder: unchanged texts are never re-encoded, writes are atomic, concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from lmrec.text import CachedEncoder


def shard_files(cache: CachedEncoder) -> list[Path]:
    return sorted(p for p in cache.directory.glob("*.safetensors") if not p.name.startswith("."))


def test_second_call_encodes_nothing(tmp_path: Path, fake_encoder, titles: list[str]) -> None:
    inner = fake_encoder()
    first = CachedEncoder(inner, tmp_path).encode(titles)
    assert inner.encoded == 50
    cache = CachedEncoder(inner, tmp_path)  # a new process would start like this: index read from disk
    again = cache.encode(titles)
    assert inner.encoded == 50 and (cache.last_hits, cache.last_misses) == (50, 0)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(again, inner.encode(titles))


def test_only_the_changed_text_is_re_encoded(tmp_path: Path, fake_encoder, titles: list[str]) -> None:
    inner = fake_encoder()
    cache = CachedEncoder(inner, tmp_path)
    cache.encode(titles)
    changed = list(titles)
    changed[7] = "mini stapler with 1000 staples, pink"
    vectors = cache.encode(changed)
    assert inner.calls[-1] == [changed[7]] and (cache.last_hits, cache.last_misses) == (49, 1)
    np.testing.assert_array_equal(vectors, fake_encoder().encode(changed))


def test_duplicates_and_empty_texts(tmp_path: Path, fake_encoder) -> None:
    inner = fake_encoder()
    cache = CachedEncoder(inner, tmp_path)
    vectors = cache.encode(["pens", "", "pens", "", "stapler"])
    assert sorted(inner.calls[-1]) == ["", "pens", "stapler"]
    assert not vectors[[1, 3]].any() and np.array_equal(vectors[0], vectors[2])
    assert cache.encode([]).shape == (0, inner.dim)


def test_a_different_encoder_name_never_shares_vectors(tmp_path: Path, fake_encoder) -> None:
    CachedEncoder(fake_encoder(name="fake/v1"), tmp_path).encode(["pens"])
    other = fake_encoder(name="fake/v2")
    CachedEncoder(other, tmp_path).encode(["pens"])
    assert other.encoded == 1
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_leftover_temp_files_and_damaged_shards_are_ignored(tmp_path: Path, fake_encoder) -> None:
    inner = fake_encoder()
    cache = CachedEncoder(inner, tmp_path)
    cache.encode(["pens", "stapler"])
    (cache.directory / ".0001.safetensors.abc.tmp").write_bytes(b"half a shard")  # a crash mid-write
    (cache.directory / "00000000000000000001-damaged.safetensors").write_bytes(b"\x08\x00\x00")  # disk damage
    fresh = CachedEncoder(inner, tmp_path)
    vectors = fresh.encode(["pens", "stapler", "tape"])
    assert inner.calls[-1] == ["tape"]
    np.testing.assert_array_equal(vectors, inner.encode(["pens", "stapler", "tape"]))


def test_interrupted_run_keeps_finished_chunks(tmp_path: Path, fake_encoder, titles: list[str]) -> None:
    inner = fake_encoder()
    real_encode = inner.encode

    def crash_on_third_chunk(texts, **kwargs):
        if len(inner.calls) == 2:
            raise RuntimeError("killed")
        return real_encode(texts, **kwargs)

    inner.encode = crash_on_third_chunk
    with pytest.raises(RuntimeError, match="killed"):
        CachedEncoder(inner, tmp_path, chunk_size=10).encode(titles)
    inner.encode = real_encode
    resumed = CachedEncoder(inner, tmp_path, chunk_size=10)
    resumed.encode(titles)
    assert (resumed.last_hits, resumed.last_misses) == (20, 30)


def test_many_shards_are_merged(tmp_path: Path, fake_encoder, titles: list[str]) -> None:
    inner = fake_encoder()
    cache = CachedEncoder(inner, tmp_path, max_shards=4)
    for text in titles[:10]:
        cache.encode([text])
    assert len(shard_files(cache)) <= 4
    reader = CachedEncoder(inner, tmp_path)
    vectors = reader.encode(titles[:10])
    assert reader.last_misses == 0
    np.testing.assert_array_equal(vectors, inner.encode(titles[:10]))


def _writer(directory: str, texts: list[str], encoder_class: type) -> None:
    cache = CachedEncoder(encoder_class(), directory, max_shards=3)
    for text in texts:
        cache.encode([text])


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path, fake_encoder, titles: list[str]) -> None:
    context = multiprocessing.get_context("fork")
    halves = [titles[0::2], titles[1::2] + titles[:6]]  # overlapping on purpose
    workers = [context.Process(target=_writer, args=(str(tmp_path), half, fake_encoder)) for half in halves]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    inner = fake_encoder()
    reader = CachedEncoder(inner, tmp_path)
    vectors = reader.encode(titles)
    assert inner.encoded == 0
    np.testing.assert_array_equal(vectors, fake_encoder().encode(titles))
    assert not [p for p in reader.directory.iterdir() if p.name.startswith(".")]


def test_progress_counts_every_position(tmp_path: Path, fake_encoder) -> None:
    cache = CachedEncoder(fake_encoder(), tmp_path)
    cache.encode(["pens", "tape"])
    seen: list[tuple[int, int]] = []
    cache.encode(["pens", "pens", "glue", "tape", "glue"], progress=lambda d, n: seen.append((d, n)))
    assert seen[-1] == (5, 5) and (cache.last_hits, cache.last_misses) == (2, 1)

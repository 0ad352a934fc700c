"""DecodeCache: each picture decoded once; only added or changed files are decoded again."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnstudio.core.dataset.cache as cache_module
from cnnstudio.core.dataset import DecodeCache, DecodeStopped, decode_image
from cnnstudio.core.dataset.problems import NOT_IMAGE


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths decode_image was called with, in call order."""
    calls: list[str] = []

    def counting(path: str, *args, **kwargs):
        calls.append(Path(path).name)
        return decode_image(path, *args, **kwargs)

    monkeypatch.setattr(cache_module, "decode_image", counting)
    return calls


def pictures(folder: Path, n: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        path = folder / f"{i:03d}.png"
        Image.new("RGB", (12, 10), (i * 7 % 256, i * 3 % 256, 100)).save(path)
        paths.append(str(path))
    return paths


def expected(paths: list[str], size: int = 8, channels: int = 3, fit: str = "crop") -> np.ndarray:
    return np.stack([decode_image(p, size, size, channels, fit) for p in paths])


def test_first_load_decodes_all_and_second_decodes_nothing(tmp_path: Path, decoded: list[str]) -> None:
    paths = pictures(tmp_path / "img", 10)
    cache = DecodeCache(tmp_path / "cache")
    first = cache.load(paths, 8, 8, 3, "crop", workers=2)
    assert len(decoded) == 10 and first.shape == (10, 3, 8, 8) and first.dtype == np.uint8
    assert isinstance(first, np.memmap)  # rows in order: a view of the store, nothing copied
    assert np.array_equal(first, expected(paths))
    again = DecodeCache(tmp_path / "cache").load(paths, 8, 8, 3, "crop")  # a new session
    assert len(decoded) == 10
    assert np.array_equal(again, first)
    assert cache.last_failures == []


def test_added_changed_and_removed_files_decode_only_themselves(tmp_path: Path, decoded: list[str]) -> None:
    paths = pictures(tmp_path / "img", 6)
    cache = DecodeCache(tmp_path / "cache")
    cache.load(paths, 8, 8, 3, "crop")
    decoded.clear()

    added = pictures(tmp_path / "img", 1, start=50)
    Image.new("RGB", (12, 10), (1, 2, 3)).save(paths[2])  # changed: new size or time
    os.utime(paths[2], ns=(1, 1_000_000_000))
    os.remove(paths[4])
    now = [p for p in paths if p != paths[4]] + added
    out = cache.load(now, 8, 8, 3, "crop")
    assert sorted(decoded) == ["002.png", "050.png"]
    assert np.array_equal(out, expected(now))
    decoded.clear()
    cache.load(now, 8, 8, 3, "crop")
    assert decoded == []


def test_any_order_and_subsets_are_gathered_without_decoding(tmp_path: Path, decoded: list[str]) -> None:
    paths = pictures(tmp_path / "img", 8)
    cache = DecodeCache(tmp_path / "cache")
    full = np.array(cache.load(paths, 8, 8, 3, "crop"))
    decoded.clear()
    order = [5, 0, 7, 7, 2]
    out = cache.load([paths[i] for i in order], 8, 8, 3, "crop")
    assert decoded == [] and not isinstance(out, np.memmap)
    assert np.array_equal(out, full[order])
    tail = cache.load(paths[3:6], 8, 8, 3, "crop")
    assert isinstance(tail, np.memmap) and np.array_equal(tail, full[3:6])  # contiguous rows: a view
    tail[0] = 0  # callers may write into what they get; the cache is not changed
    assert np.array_equal(cache.load(paths, 8, 8, 3, "crop"), full)


def test_each_geometry_has_its_own_store(tmp_path: Path, decoded: list[str]) -> None:
    paths = pictures(tmp_path / "img", 3)
    cache = DecodeCache(tmp_path / "cache")
    a = cache.load(paths, 8, 8, 3, "crop")
    b = cache.load(paths, 6, 4, 1, "pad")
    assert a.shape == (3, 3, 8, 8) and b.shape == (3, 1, 6, 4) and len(decoded) == 6
    assert np.array_equal(b, np.stack([decode_image(p, 6, 4, 1, "pad") for p in paths]))


def test_growing_past_capacity_keeps_every_row(tmp_path: Path) -> None:
    cache = DecodeCache(tmp_path / "cache")
    paths = pictures(tmp_path / "img", 50)
    cache.load(paths, 4, 4, 3, "stretch")
    more = pictures(tmp_path / "img", 60, start=50)  # 110 rows: past the first file's capacity of 64
    out = cache.load(paths + more, 4, 4, 3, "stretch")
    assert np.array_equal(out, expected(paths + more, 4, 3, "stretch"))
    store = cache.store_dir(4, 4, 3, "stretch")
    assert sorted(p.name for p in store.iterdir()) == ["manifest.json", "rows-000002.npy"]


def test_failures_are_zeros_and_reported(tmp_path: Path) -> None:
    paths = pictures(tmp_path / "img", 3)
    bad = tmp_path / "img" / "bad.png"
    bad.write_text("not a picture")
    cache = DecodeCache(tmp_path / "cache")
    out = cache.load([paths[0], str(bad), paths[1], str(tmp_path / "gone.png")], 8, 8, 3, "crop")
    assert np.all(out[1] == 0) and np.all(out[3] == 0)
    assert np.array_equal(out[[0, 2]], expected(paths[:2]))
    reasons = dict(cache.last_failures)
    assert reasons[str(bad)].startswith(NOT_IMAGE) and str(tmp_path / "gone.png") in reasons


def test_stop_keeps_what_was_decoded(tmp_path: Path, decoded: list[str]) -> None:
    paths = pictures(tmp_path / "img", 30)
    cache = DecodeCache(tmp_path / "cache")
    with pytest.raises(DecodeStopped):
        cache.load(paths, 8, 8, 3, "crop", workers=1, should_stop=lambda: len(decoded) >= 5)
    done = len(decoded)
    assert 5 <= done < 30
    decoded.clear()
    out = DecodeCache(tmp_path / "cache").load(paths, 8, 8, 3, "crop", workers=1)
    assert len(decoded) == 30 - done  # the rows decoded before the stop were kept
    assert np.array_equal(out, expected(paths))


def test_a_damaged_manifest_only_costs_a_rebuild(tmp_path: Path, decoded: list[str]) -> None:
    paths = pictures(tmp_path / "img", 4)
    cache = DecodeCache(tmp_path / "cache")
    cache.load(paths, 8, 8, 3, "crop")
    (cache.store_dir(8, 8, 3, "crop") / "manifest.json").write_text("{not json")
    out = cache.load(paths, 8, 8, 3, "crop")
    assert len(decoded) == 8 and np.array_equal(out, expected(paths))


def test_progress_counts_decoded_files(tmp_path: Path) -> None:
    paths = pictures(tmp_path / "img", 12)
    seen: list[tuple[int, int]] = []
    DecodeCache(tmp_path / "cache").load(
        paths, 8, 8, 3, "crop", workers=2, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)

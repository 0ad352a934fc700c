"""check_images: odd but valid pictures are usable; every broken kind is listed with a plain reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnstudio.core.dataset.probe as probe
from cnnstudio.core.dataset import check_images, scan_source
from cnnstudio.core.dataset.problems import (
    CUT_OFF_REASON,
    DAMAGED,
    EMPTY_REASON,
    NOT_IMAGE_REASON,
    TOO_LARGE,
    UNSUPPORTED,
)

RNG = np.random.default_rng(0)


def noise(height: int = 24, width: int = 32) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_odd_kinds(folder: Path) -> dict[str, tuple[int, int]]:
    """Valid pictures of every awkward kind; returns name -> (width, height) as shown."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(noise())
    rgb.convert("L").save(folder / "grey.png")
    Image.fromarray(np.dstack([noise(), np.full((24, 32), 128, np.uint8)]), "RGBA").save(folder / "rgba.png")
    rgb.convert("P").save(folder / "palette.png", transparency=0)
    rgb.convert("P").save(folder / "palette.gif", transparency=3)
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)).save(folder / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: stored 32 x 24, shown 24 x 32
    rgb.save(folder / "rotated.jpg", exif=exif.tobytes())
    Image.new("RGB", (1, 1), (9, 9, 9)).save(folder / "one pixel.png")
    Image.new("RGB", (1000, 3), (200, 100, 50)).save(folder / "very wide.png")
    rgb.save(folder / "x.webp")
    rgb.save(folder / "x.bmp")
    rgb.save(folder / "x.tiff")
    Image.fromarray(np.linspace(0, 1, 24 * 32, dtype=np.float32).reshape(24, 32)).save(folder / "float.tif")
    rgb.convert("1").save(folder / "bilevel.png")
    rgb.save(folder / "png named.jpg", format="PNG")  # a wrong extension is no problem
    sizes = {p.name: (32, 24) for p in folder.iterdir()}
    sizes.update({"rotated.jpg": (24, 32), "one pixel.png": (1, 1), "very wide.png": (1000, 3)})
    return sizes


def write_broken_kinds(folder: Path) -> dict[str, str]:
    """Unusable files; returns name -> the reason check_images must give."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is a shopping list, not a picture")
    Image.fromarray(noise(64, 64)).save(folder / "whole.jpg", quality=90)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "whole.jpg").unlink()
    Image.fromarray(noise(64, 64)).save(folder / "whole.png")
    data = bytearray((folder / "whole.png").read_bytes())
    (folder / "cut.png").write_bytes(bytes(data[: len(data) // 2]))
    data[data.find(b"IDAT") + 40] ^= 0xFF  # flipped bits in the compressed data: the checksum no longer fits
    (folder / "corrupted.png").write_bytes(bytes(data))
    (folder / "whole.png").unlink()
    (folder / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    return {
        "empty.jpg": EMPTY_REASON,
        "text.jpg": NOT_IMAGE_REASON,
        "cut.jpg": CUT_OFF_REASON,
        "cut.png": CUT_OFF_REASON,
        "corrupted.png": DAMAGED,
        "photo.heic": UNSUPPORTED,
    }


def by_name(index) -> dict:
    return {Path(s.path).name: s for s in index.samples}


def test_odd_but_valid_pictures_are_usable_with_their_shown_size(tmp_path: Path) -> None:
    sizes = write_odd_kinds(tmp_path / "d" / "odd")
    index = check_images(scan_source(tmp_path / "d"), workers=2)
    samples = by_name(index)
    assert {n: s.problem for n, s in samples.items() if s.problem} == {}
    assert {n: (s.width, s.height) for n, s in samples.items()} == sizes


@pytest.mark.parametrize("read_whole", [True, False], ids=["read-whole", "opened-by-path"])
def test_every_broken_kind_is_listed_with_a_plain_reason_and_the_rest_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_whole: bool
) -> None:
    if not read_whole:  # how files over WHOLE_READ_LIMIT are opened
        monkeypatch.setattr(probe, "WHOLE_READ_LIMIT", 0)
    expected = write_broken_kinds(tmp_path / "d" / "cls")
    Image.new("RGB", (20, 20)).save(tmp_path / "d" / "cls" / "good.png")
    index = check_images(scan_source(tmp_path / "d"), workers=2)
    samples = by_name(index)
    for name, reason in expected.items():
        problem = samples[name].problem
        assert problem is not None and problem.startswith(reason), (name, problem)
        assert samples[name].width is None
    assert samples["good.png"].problem is None and samples["good.png"].width == 20
    assert [Path(s.path).name for s in index.usable()] == ["good.png"]


def test_too_large_pictures_are_problems_not_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    Image.new("L", (12, 12)).save(tmp_path / "warned.png")  # 144 pixels: Pillow only warns
    Image.new("L", (30, 30)).save(tmp_path / "refused.png")  # 900 > 2 x 100: Pillow raises
    Image.new("L", (10, 10)).save(tmp_path / "fine.png")
    with pytest.warns(Image.DecompressionBombWarning):
        index = check_images(scan_source(tmp_path), workers=1)
    samples = by_name(index)
    assert samples["warned.png"].problem.startswith(TOO_LARGE)
    assert "12 x 12 pixels" in samples["warned.png"].problem
    assert samples["refused.png"].problem.startswith(TOO_LARGE)
    assert samples["fine.png"].problem is None


def test_unsupported_colour_format_is_its_own_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("CMYK", (8, 8)).save(tmp_path / "cmyk.jpg")
    monkeypatch.setattr(probe, "SUPPORTED_MODES", probe.SUPPORTED_MODES - {"CMYK"})
    index = check_images(scan_source(tmp_path), workers=1)
    assert index.samples[0].problem == f"{UNSUPPORTED} (its colour format, CMYK, cannot be read)"


def test_truncated_images_are_found_even_if_someone_allowed_loading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_broken_kinds(tmp_path / "d")
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)  # what probe.py sets on import
    index = check_images(scan_source(tmp_path / "d"), workers=1)
    assert by_name(index)["cut.jpg"].problem == CUT_OFF_REASON


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # from the thread run
def test_check_in_worker_processes_gives_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_broken_kinds(tmp_path / "d" / "broken")
    write_odd_kinds(tmp_path / "d" / "odd")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # the workers get the parent's limit
    threads = check_images(scan_source(tmp_path / "d"), workers=2, processes=False)
    processes = check_images(scan_source(tmp_path / "d"), workers=2, processes=True)
    assert processes == threads
    assert by_name(processes)["very wide.png"].problem.startswith(TOO_LARGE)


def test_progress_and_stop(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(40):
        Image.new("L", (4, 4), i).save(folder / f"{i:02d}.png")
    seen: list[tuple[int, int]] = []
    check_images(scan_source(folder), workers=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 40) and seen[-1] == (40, 40)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    calls = {"n": 0}

    def stop_after_first_chunk() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    index = check_images(scan_source(folder), workers=1, should_stop=stop_after_first_chunk)
    checked = [s for s in index.samples if s.width is not None]
    assert 0 < len(checked) < 40  # the chunk done is kept; the rest is untouched
    assert all(s.problem is None for s in index.samples)


def _failing_worker_start(*_args: object) -> None:
    raise RuntimeError("a worker process that cannot start")


def test_a_process_pool_that_breaks_falls_back_to_threads(tmp_path: Path) -> None:
    from cnnstudio.core.dataset.parallel import map_chunks
    from cnnstudio.core.dataset.probe import probe_files

    for i in range(6):
        Image.new("L", (5, 3)).save(tmp_path / f"{i}.png")
    paths = sorted(str(p) for p in tmp_path.iterdir())
    chunks = dict(
        map_chunks(
            probe_files, paths, workers=2, processes=True, chunk_size=2, initializer=_failing_worker_start
        )
    )
    assert sorted(chunks) == [0, 2, 4]
    assert all(r == (None, 5, 3) for results in chunks.values() for r in results)

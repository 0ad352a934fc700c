"""decode_image: the app's preprocessing (orientation, channels, fit modes, large JPEGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.core.dataset import ImageProblem, decode_image
from cnnstudio.core.dataset.problems import EMPTY_REASON


def save(image: Image.Image, path: Path, **kwargs) -> str:
    image.save(path, **kwargs)
    return str(path)


def white(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), (255, 255, 255))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_shape_and_type(tmp_path: Path, channels: int, fit: str) -> None:
    path = save(Image.fromarray(np.full((32, 48, 3), 77, np.uint8)), tmp_path / "a.png")  # same proportions
    out = decode_image(path, 16, 24, channels, fit)
    assert out.shape == (channels, 16, 24) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.all(out == 77)  # a flat colour stays that colour through every resize


def test_pad_leaves_black_bars_centred(tmp_path: Path) -> None:
    out = decode_image(save(white(40, 20), tmp_path / "wide.png"), 20, 20, 3, "pad")
    assert np.all(out[:, :5, :] == 0) and np.all(out[:, 15:, :] == 0)  # 20x10 content, centred
    assert np.all(out[:, 5:15, :] == 255)


def test_crop_keeps_the_centre(tmp_path: Path) -> None:
    array = np.zeros((20, 60, 3), np.uint8)
    array[:, 20:40] = 255  # a white middle third between black sides
    out = decode_image(save(Image.fromarray(array), tmp_path / "wide.png"), 20, 20, 1, "crop")
    assert np.all(out == 255)


def test_stretch_ignores_proportions(tmp_path: Path) -> None:
    array = np.zeros((10, 40, 3), np.uint8)
    array[:, :20] = 255  # white left half
    out = decode_image(save(Image.fromarray(array), tmp_path / "half.png"), 20, 20, 1, "stretch")
    assert np.all(out[0, :, :9] == 255) and np.all(out[0, :, 11:] == 0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 20 wide x 10 high, shown 10 wide x 20 high
    path = save(white(20, 10), tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    out = decode_image(path, 20, 20, 1, "pad")
    # Shown upright the picture is tall, so padding fills the sides, not the top and bottom.
    assert out[0, :, :4].max() < 20 and out[0, :, 16:].max() < 20
    assert out[0, :, 6:14].min() > 235


def test_transparency_is_laid_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)  # black, fully transparent
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "clear.png")
    assert np.all(decode_image(path, 8, 8, 3, "stretch") == 255)
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    path = save(palette, tmp_path / "clear.gif", transparency=0)
    assert np.all(decode_image(path, 8, 8, 1, "stretch") == 255)


def test_sixteen_bit_keeps_the_top_eight_bits(tmp_path: Path) -> None:
    array = np.array([[0, 257, 65535, 32896]], np.uint16)
    path = save(Image.fromarray(array), tmp_path / "deep.png")
    assert decode_image(path, 1, 4, 1, "stretch")[0, 0].tolist() == [0, 1, 255, 128]


def test_cmyk_grey_and_bilevel_become_the_asked_channels(tmp_path: Path) -> None:
    for name, image in {
        "c.jpg": Image.new("CMYK", (6, 6), (0, 0, 0, 0)),
        "g.png": Image.new("L", (6, 6), 255),
        "b.png": Image.new("1", (6, 6), 1),
    }.items():
        path = save(image, tmp_path / name)
        for channels in (1, 3):
            out = decode_image(path, 4, 4, channels, "crop")
            assert out.shape == (channels, 4, 4) and out.min() > 245, name


def test_tiny_and_very_wide_pictures(tmp_path: Path) -> None:
    one = save(Image.new("RGB", (1, 1), (10, 20, 30)), tmp_path / "one.png")
    assert decode_image(one, 5, 5, 3, "crop")[:, 2, 2].tolist() == [10, 20, 30]
    wide = save(Image.new("RGB", (1000, 3), (200, 100, 50)), tmp_path / "wide.png")
    for fit in ("stretch", "crop", "pad"):
        assert decode_image(wide, 16, 16, 3, fit).shape == (3, 16, 16)


def test_large_jpeg_uses_draft_and_stays_close_to_a_full_decode(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:480, 0:640]
    smooth = np.dstack([xx * 255 // 640, yy * 255 // 480, (xx + yy) * 255 // 1120]).astype(np.uint8)
    path = save(Image.fromarray(smooth), tmp_path / "photo.jpg", quality=95)
    fast = decode_image(path, 64, 64, 3, "stretch").astype(int)
    full = np.asarray(Image.open(path).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
    assert np.abs(fast - full.transpose(2, 0, 1)).max() <= 6
    assert np.array_equal(decode_image(path, 64, 64, 3, "stretch"), fast)  # deterministic


def test_unusable_file_raises_image_problem(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ImageProblem) as info:
        decode_image(str(tmp_path / "e.png"), 8, 8, 3, "crop")
    assert info.value.reason == EMPTY_REASON


def test_bad_arguments_are_programming_errors(tmp_path: Path) -> None:
    path = save(white(4, 4), tmp_path / "w.png")
    with pytest.raises(ValueError):
        decode_image(path, 8, 8, 2, "crop")
    with pytest.raises(ValueError):
        decode_image(path, 8, 8, 3, "zoom")


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_bytes_decode_like_the_file(tmp_path: Path, fit: str) -> None:
    # The prediction service receives pictures as bytes: the same numbers as the file on disk.
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    for name in ("p.jpg", "p.png"):
        path = save(photo, tmp_path / name)
        from_file = decode_image(path, 32, 48, 3, fit)
        from_bytes = decode_image(Path(path).read_bytes(), 32, 48, 3, fit)
        assert from_bytes.dtype == np.uint8 and np.array_equal(from_bytes, from_file)
    with pytest.raises(ImageProblem) as empty:
        decode_image(b"", 32, 32, 3, fit)
    assert empty.value.reason == EMPTY_REASON and empty.value.path == "the picture"
    with pytest.raises(ImageProblem, match="not an image"):
        decode_image(b"hello", 32, 32, 3, fit)
    with pytest.raises(ImageProblem, match="damaged or cut-off"):
        data = Path(tmp_path / "p.jpg").read_bytes()
        decode_image(data[: len(data) // 2], 32, 32, 3, fit)

"""predict_example.py (written next to every ONNX export) prepares pictures exactly as the app does.

Its load_picture must give decode_image's numbers to the last bit for every kind of picture the
app reads: EXIF-rotated, transparent, palette, 16-bit, grey, CMYK, big JPEGs (draft decoding),
in every fit mode and both channel counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.core.dataset import decode_image
from cnnstudio.core.export import predict_example
from cnnstudio.core.spec import Preprocessing


def write_varied_pictures(root: Path, seed: int = 0) -> list[Path]:
    """Pictures that take every branch of decode_image; shared with the ONNX round-trip test."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def rgb(w: int, h: int) -> Image.Image:
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = np.stack([np.sin(xx / 7.0), np.cos(yy / 5.0), np.sin((xx + yy) / 11.0)], axis=-1)
        noise = rng.normal(0, 0.1, (h, w, 3))
        return Image.fromarray(((smooth * 0.4 + 0.5 + noise).clip(0, 1) * 255).astype(np.uint8))

    def exif(orientation: int) -> bytes:
        data = Image.Exif()
        data[0x0112] = orientation
        return data.tobytes()

    def palette_with_transparency(image: Image.Image) -> Image.Image:
        palette = image.convert("P")
        palette.info["transparency"] = palette.getpixel((0, 0))  # a colour that is used
        return palette

    files = {
        "big.jpg": lambda p: rgb(640, 480).save(p, quality=90),  # decoded at 1/2 scale (draft)
        "turned6.jpg": lambda p: rgb(300, 200).save(p, exif=exif(6)),
        "turned3.png": lambda p: rgb(90, 50).save(p, exif=exif(3)),
        "turned8_big.jpg": lambda p: rgb(800, 400).save(p, exif=exif(8)),
        "alpha.png": lambda p: Image.fromarray(
            np.dstack([np.asarray(rgb(70, 50)), rng.integers(0, 256, (50, 70), dtype=np.uint8)]), "RGBA"
        ).save(p),
        "palette_transparent.png": lambda p: palette_with_transparency(rgb(40, 30)).save(p),
        "sixteen_bit.png": lambda p: Image.fromarray(rng.integers(0, 65535, (33, 47)).astype(np.uint16)).save(
            p
        ),
        "grey.jpg": lambda p: rgb(64, 48).convert("L").save(p),
        "cmyk.jpg": lambda p: rgb(90, 60).convert("CMYK").save(p),
        "grey_alpha.png": lambda p: Image.fromarray(
            np.dstack([np.asarray(rgb(30, 20).convert("L")), rng.integers(0, 256, (20, 30), dtype=np.uint8)]),
            "LA",
        ).save(p),
        "tiny.bmp": lambda p: rgb(17, 23).save(p),
        "tall.webp": lambda p: rgb(150, 260).save(p),
    }
    paths = []
    for name, write in files.items():
        path = root / name
        write(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[Path]:
    return write_varied_pictures(tmp_path_factory.mktemp("varied"))


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (48, 64), (224, 160)])
def test_load_picture_matches_decode_image_exactly(pictures, fit, channels, size):
    height, width = size
    prep = Preprocessing(height, width, "L" if channels == 1 else "RGB", fit).to_dict()
    for path in pictures:
        app = decode_image(str(path), height, width, channels, fit)
        example = predict_example.load_picture(str(path), prep)
        assert example.dtype == np.uint8
        assert example.shape == app.shape == (channels, height, width), path.name
        assert np.array_equal(example, app), f"{path.name}: {np.abs(example.astype(int) - app).max()} off"


def test_model_input_matches_the_apps_normalisation():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    prep = Preprocessing(8, 8, "RGB", "crop", 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    expected = prep.normalize(torch.from_numpy(X)).numpy()
    got = predict_example.model_input(X, prep.to_dict())
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_the_template_uses_only_onnxruntime_pillow_and_numpy():
    source = Path(predict_example.__file__).read_text(encoding="utf-8")
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from ")) and "__future__" not in line
    }
    assert imports <= {"argparse", "io", "json", "sys", "pathlib", "numpy", "onnxruntime", "PIL"}


def test_its_verdict_is_the_apps_verdict():
    """predict_example.py keeps its own copy of core.trust.verdict (it needs only numpy); they agree
    on every picture, ties between classes and scores at the threshold included."""
    from cnnstudio.core.trust.verdict import verdict

    rng = np.random.default_rng(0)
    classes = ["cat", "dog", "fox", "owl"]
    rows = [rng.dirichlet(np.ones(4)).astype(np.float32) for _ in range(200)]
    rows += [np.array([0.4, 0.4, 0.1, 0.1], np.float32), np.array([0.25] * 4, np.float32)]
    scores = [*rng.uniform(0, 2, size=len(rows) - 2), 1.5, None]
    for p, score in zip(rows, scores, strict=True):
        for threshold in (1.0, 1.5, None):
            mine = predict_example.verdict(p, classes, score, threshold)
            app = verdict(p, classes, unknown_score=score, unknown_threshold=threshold)
            assert mine == {
                "label": app.label,
                "confidence": app.confidence,
                "top": [list(t) for t in app.top],
                "unknown": app.unknown,
                "unknown_score": app.unknown_score,
            }

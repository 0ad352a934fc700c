"""A calibrated model and an HTTP client for the prediction service's tests (tests/core, tests/cli).

The model is a real tiny CNN trained for a few epochs on pictures written by Pillow, calibrated on
them, with its unknown threshold in the middle of the pictures' scores so that both flags occur.
"""

from __future__ import annotations

import http.client
import io
import json
import struct
import uuid
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import numpy as np
import torch
from image_fixtures import write_tiny_image_folder
from PIL import Image


def calibrated_bundle(root: Path) -> SimpleNamespace:
    """`bundle`: a verified .cnnmodel with a temperature and an unknown score; `pictures`: files."""
    from cnnstudio.core.dataset import decode_image
    from cnnstudio.core.export import LoadedModel, export_model
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig, Trainer

    data = write_tiny_image_folder(root / "data", classes=3, per_class=10, size=24)
    odd = root / "data" / "odd"  # noise: pictures unlike the training ones
    odd.mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(odd / f"noise_{i}.png")
    spec = template("tiny")
    prep = spec.preprocessing()
    train = sorted(p for p in data.rglob("*.*") if p.parent.name.startswith("class_"))
    names = sorted({p.parent.name for p in train})
    X = np.stack([decode_image(str(p), prep.height, prep.width, prep.num_channels, prep.fit) for p in train])
    y = np.array([names.index(p.parent.name) for p in train])
    torch.manual_seed(0)
    trainer = Trainer(
        spec, TrainConfig(epochs=3, batch_size=8, lr=0.01), class_names=names, preprocessing=prep
    )
    trainer.fit((X, y))
    model = trainer.model.to("cpu").eval()
    from cnnstudio.core.trust import fit_trust, predict_calibrated

    cal = fit_trust(model, prep, X, y, X, y)
    cal.temperature = 2.5  # a temperature that shows if it is lost on the way
    pictures = sorted(str(p) for p in data.rglob("*.*"))
    everything = np.stack(
        [decode_image(p, prep.height, prep.width, prep.num_channels, prep.fit) for p in pictures]
    )
    scores = predict_calibrated(model, everything, prep, cal).unknown_scores
    cal.threshold = float(np.median(scores)) + 1e-3
    loaded = LoadedModel(model, prep, names, spec.to_dict(), "test", calibration=cal)
    result = export_model(loaded, "bundle", root / "model.cnnmodel", everything)
    assert result.verification.ok, result.message
    return SimpleNamespace(bundle=result.path, pictures=pictures, data=data, threshold=cal.threshold)


def request(
    url: str,
    method: str = "GET",
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one request; the body is sent as it is (no encoding)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        chunked = body is not None and not isinstance(body, bytes)  # an iterable: sent in chunks
        conn.request(method, parts.path or "/", body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}, dict(response.getheaders())
    finally:
        conn.close()


def multipart(files: list[tuple[str, bytes]], field: str = "files") -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request with these files."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, data in files:
        out.write(f"--{boundary}\r\n".encode())
        out.write(f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'.encode())
        out.write(b"Content-Type: application/octet-stream\r\n\r\n")
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def bomb_png(side: int = 40_000) -> bytes:
    """A tiny PNG file that claims side x side pixels: opening it would need gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def same_item(served: dict, expected: dict, *, path: str | None = None) -> None:
    """One service answer equals one item of `cnnstudio predict --json`. Floats to 1e-6, unknown
    scores to 1e-4 relative: the Predictor itself gives float32 results that differ that much between
    a picture run alone and in a batch of 40 (measured: up to 1.2e-5 relative on the score)."""
    assert set(served) == set(expected)
    if path is not None:
        assert served["path"] == path
    assert served["label"] == expected["label"]
    assert served["unknown"] == expected["unknown"]
    assert [label for label, _ in served["top"]] == [label for label, _ in expected["top"]]
    assert np.allclose([p for _, p in served["top"]], [p for _, p in expected["top"]], atol=1e-6)
    assert abs(served["confidence"] - expected["confidence"]) <= 1e-6
    if expected["unknown_score"] is None:
        assert served["unknown_score"] is None
    else:
        assert np.isclose(served["unknown_score"], expected["unknown_score"], rtol=1e-4, atol=1e-5)

"""The prediction service (core.serve) on a real socket: answers equal the Predictor's, batching,
errors in words (400, 401, 404, 405, 413), CORS only when asked, and a bounded hammer."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_fixtures import bomb_png, calibrated_bundle, multipart, request, same_item

from cnnstudio.core.errors import UserError
from cnnstudio.core.export import Predictor
from cnnstudio.core.models import load_model
from cnnstudio.core.serve import ServeOptions, exposure_lines
from cnnstudio.core.serve.server import Service


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    made = calibrated_bundle(tmp_path_factory.mktemp("serve"))
    predictor = Predictor(load_model(made.bundle))
    made.predictor = predictor
    # The reference: the Predictor on the files, as `cnnstudio predict` runs it.
    made.expected = {p.path: p.to_dict() for p in predictor.predict(made.pictures).predictions}
    return made


@pytest.fixture(scope="module")
def service(model):
    with Service(model.predictor, ServeOptions(port=0)) as running:
        yield running


def post_picture(url: str, path: str, **headers) -> tuple[int, dict, dict]:
    return request(
        url + "/predict", "POST", Path(path).read_bytes(), {"Content-Type": "image/png", **headers}
    )


def test_health_and_model(service, model):
    status, body, _ = request(service.url + "/health")
    assert (status, body) == (200, {"status": "ok"})
    status, body, _ = request(service.url + "/model")
    assert status == 200
    assert body["classes"] == ["class_0", "class_1", "class_2"]
    assert body["input"] == {"height": 32, "width": 32, "channels": 3, "fit": "stretch"}
    assert body["calibrated"] is True and body["temperature"] == pytest.approx(2.5)
    assert body["unknown_threshold"] == pytest.approx(model.threshold)
    assert body["source"] == "model.cnnmodel" and body["max_bytes"] == 20 * 1024 * 1024


def test_one_picture_per_request_equals_the_predictor(service, model):
    flags = set()
    for path in model.pictures:
        status, body, _ = post_picture(service.url, path, **{"X-Filename": Path(path).name})
        assert status == 200, body
        same_item(body, model.expected[path], path=Path(path).name)
        flags.add(body["unknown"])
    assert flags == {True, False}  # both flags travel


def test_several_pictures_in_one_multipart_request(service, model):
    files = [(Path(p).name, Path(p).read_bytes()) for p in model.pictures]
    files.insert(3, ("notes.txt", b"not a picture"))
    body, content_type = multipart(files)
    status, answer, _ = request(service.url + "/predict", "POST", body, {"Content-Type": content_type})
    assert status == 200, answer
    assert [p["path"] for p in answer["predictions"]] == [Path(p).name for p in model.pictures]
    for item, path in zip(answer["predictions"], model.pictures, strict=True):
        same_item(item, model.expected[path])
    assert answer["problems"] == [
        {
            "path": "notes.txt",
            "reason": "not an image (the contents are not a picture, whatever the name says)",
        }
    ]


def test_concurrent_requests_are_batched(model):
    options = ServeOptions(port=0, max_wait=0.05)  # a long wait, so that 16 requests meet
    paths = model.pictures[:16]
    with Service(model.predictor, options) as running, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: post_picture(running.url, p), paths))
        assert running.pictures_answered == 16
        assert running.batches < 16
    for (status, body, _), path in zip(answers, paths, strict=True):
        assert status == 200
        same_item(body, model.expected[path])


def test_bad_pictures_are_400_in_words(service):
    cases = {
        b"hello": "not an image",
        b"": "The request has no picture",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40: "This is not a usable picture",
        bomb_png(): "image too large to open safely",
    }
    for data, words in cases.items():
        status, body, headers = request(service.url + "/predict", "POST", data, {"Content-Type": "image/png"})
        assert status == 400 and words in body["error"], (data[:20], body)
        assert headers["content-type"] == "application/json"
    body, content_type = multipart([("a.txt", b"text"), ("b.png", bomb_png())])
    status, answer, _ = request(service.url + "/predict", "POST", body, {"Content-Type": content_type})
    assert status == 400 and answer["error"] == "None of the files is a usable picture."
    assert [p["path"] for p in answer["problems"]] == ["a.txt", "b.png"]
    status, answer, _ = request(
        service.url + "/predict", "POST", b"--x\r\n", {"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert status == 400 and "error" in answer


def test_wrong_path_and_method(service):
    status, body, _ = request(service.url + "/nothing")
    assert status == 404 and "There is nothing at /nothing" in body["error"] and "/predict" in body["error"]
    status, body, headers = request(service.url + "/predict")
    assert status == 405 and "does not accept GET" in body["error"] and headers["allow"] == "POST"
    status, body, _ = request(service.url + "/health", "POST", b"x")
    assert status == 405 and "error" in body


def test_too_large_is_413_declared_or_streamed(model, tmp_path):
    big = Path(model.pictures[0]).read_bytes() * 40
    limit = len(big) - 1
    with Service(model.predictor, ServeOptions(port=0, max_bytes=limit)) as running:
        status, body, _ = request(running.url + "/predict", "POST", big, {"Content-Type": "image/png"})
        assert status == 413 and f"up to {limit:,} bytes" in body["error"]
        # Chunked: no size declared, counted as it arrives.
        chunks = (big[i : i + 1000] for i in range(0, len(big), 1000))
        status, body, _ = request(running.url + "/predict", "POST", chunks, {"Content-Type": "image/png"})
        assert status == 413 and "too large" in body["error"]
        status, body, _ = post_picture(running.url, model.pictures[0])
        assert status == 200  # still answers


def test_token_is_required_when_given(model):
    with Service(model.predictor, ServeOptions(port=0, token="s3cret-token")) as running:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "s3cret-token"}):
            status, body, answer_headers = post_picture(running.url, model.pictures[0], **headers)
            assert status == 401 and "Authorization: Bearer" in body["error"]
            assert answer_headers["www-authenticate"] == "Bearer"
            assert request(running.url + "/model", headers=headers)[0] == 401
        status, body, _ = post_picture(running.url, model.pictures[0], Authorization="Bearer s3cret-token")
        assert status == 200 and body["label"].startswith("class_")


def test_other_addresses_need_a_token_and_say_what_they_expose():
    with pytest.raises(UserError, match="--token"):
        ServeOptions(host="0.0.0.0")
    with pytest.raises(UserError, match="at least 8 characters"):
        ServeOptions(host="0.0.0.0", token="short")
    options = ServeOptions(host="0.0.0.0", token="long-enough-token")
    text = "\n".join(exposure_lines(options, "http://127.0.0.1:8765"))
    assert "every computer that can reach this one" in text and "Authorization: Bearer" in text
    assert "this computer only" in "\n".join(exposure_lines(ServeOptions(), "http://127.0.0.1:8765"))
    with pytest.raises(UserError, match="web address"):
        ServeOptions(cors_origins=("example.org",))


def test_cors_only_when_asked(service, model):
    origin = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in request(service.url + "/health", headers=origin)[2]
    with Service(model.predictor, ServeOptions(port=0, cors_origins=("https://example.org",))) as running:
        headers = request(running.url + "/health", headers=origin)[2]
        assert headers["access-control-allow-origin"] == "https://example.org"
        other = request(running.url + "/health", headers={"Origin": "https://elsewhere.org"})[2]
        assert "access-control-allow-origin" not in other


def test_port_in_use_is_said_in_words(service, model):
    with pytest.raises(UserError, match=f"Port {service.port} on 127.0.0.1 is already in use"):
        Service(model.predictor, ServeOptions(port=service.port))


def test_hammer_with_good_and_bad_requests_then_it_still_answers(model):
    big = b"\x89PNG" + b"\x00" * 25_000
    good = model.pictures
    form, form_type = multipart([(Path(p).name, Path(p).read_bytes()) for p in good[:5]])
    rng = random.Random(0)
    kinds = [rng.choice(["one", "one", "many", "junk", "bomb", "big", "404", "405"]) for _ in range(200)]
    errors: list[str] = []
    lock = threading.Lock()

    with Service(model.predictor, ServeOptions(port=0, max_bytes=20_000)) as running:
        url = running.url

        def one(i: int) -> None:
            kind = kinds[i]
            if kind == "one":
                path = good[i % len(good)]
                status, body, _ = post_picture(url, path)
                ok = status == 200 and same_item(body, model.expected[path]) is None
            elif kind == "many":
                status, body, _ = request(url + "/predict", "POST", form, {"Content-Type": form_type})
                ok = status == 200 and len(body["predictions"]) == 5
                for item, path in zip(body.get("predictions", []), good[:5], strict=False):
                    same_item(item, model.expected[path])
            elif kind == "junk":
                status, body, _ = request(
                    url + "/predict", "POST", b"junk" * i, {"Content-Type": "image/jpeg"}
                )
                ok = status == 400 and "error" in body
            elif kind == "bomb":
                status, body, _ = request(url + "/predict", "POST", bomb_png(), {"Content-Type": "image/png"})
                ok = status == 400 and "too large to open safely" in body["error"]
            elif kind == "big":
                status, body, _ = request(url + "/predict", "POST", big, {"Content-Type": "image/png"})
                ok = status == 413
            elif kind == "404":
                status, body, _ = request(url + f"/x{i}")
                ok = status == 404
            else:
                status, body, _ = request(url + "/predict", "PUT", b"x")
                ok = status == 405
            if not ok:
                with lock:
                    errors.append(f"{kind}: {status} {body}")

        began = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(200)))
        assert time.perf_counter() - began < 30
        assert not errors, errors[:5]
        assert request(url + "/health")[:2] == (200, {"status": "ok"})
        status, body, _ = post_picture(url, good[0])
        assert status == 200
        same_item(body, model.expected[good[0]])
        expected_count = kinds.count("one") + 5 * kinds.count("many") + 1
        assert running.pictures_answered == expected_count


def test_the_copy_paste_examples_work(service, model, tmp_path):
    import shutil
    import subprocess
    import sys

    from cnnstudio.core.serve.examples import PICTURE, curl_example, examples, python_example

    shutil.copy(model.pictures[0], tmp_path / PICTURE)
    shutil.copy(model.pictures[1], tmp_path / "other.png")
    expected = model.expected[model.pictures[0]]
    proc = subprocess.run(
        [sys.executable, "-c", python_example(service.url)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    label, confidence, unknown = proc.stdout.split()
    assert label == expected["label"] and unknown == str(expected["unknown"])
    assert abs(float(confidence) - expected["confidence"]) <= 1e-6
    if shutil.which("curl"):
        one, several = [line for line in curl_example(service.url).splitlines() if line.startswith("curl")]
        answer = json.loads(
            subprocess.run(one, shell=True, cwd=tmp_path, capture_output=True, timeout=60).stdout
        )
        assert answer["label"] == expected["label"]
        answer = json.loads(
            subprocess.run(several, shell=True, cwd=tmp_path, capture_output=True, timeout=60).stdout
        )
        assert [p["path"] for p in answer["predictions"]] == [PICTURE, "other.png"]
    with_token = examples("http://127.0.0.1:1", token="TOKEN")
    assert all("Bearer TOKEN" in text for text in with_token.values())


def test_interactive_documentation(service):
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        conn.request("GET", "/docs")
        response = conn.getresponse()
        page = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200 and "swagger" in page.lower()
    status, schema, _ = request(service.url + "/openapi.json")
    assert status == 200 and set(schema["paths"]) == {"/health", "/model", "/predict"}
    content = schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"image/*", "multipart/form-data"} <= set(content)


def test_a_failing_model_answers_500_in_json_and_the_service_goes_on(model, monkeypatch):
    predictor = Predictor(load_model(model.bundle))
    calls = []

    def outputs(X):
        calls.append(len(X))
        if len(calls) == 1:
            raise RuntimeError("out of memory (simulated)")
        return Predictor.outputs(predictor, X)

    monkeypatch.setattr(predictor, "outputs", outputs)
    with Service(predictor, ServeOptions(port=0)) as running:
        status, body, _ = post_picture(running.url, model.pictures[0])
        assert status == 500 and "out of memory (simulated)" in body["error"]
        status, body, _ = post_picture(running.url, model.pictures[0])
        assert status == 200
        same_item(body, model.expected[model.pictures[0]])

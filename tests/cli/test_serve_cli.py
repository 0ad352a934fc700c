"""`cnnstudio serve MODEL`: a real process on a free port answers picture for picture what
`cnnstudio predict --json` says, tells what it exposes, refuses other addresses without a token,
and stops on Ctrl-C saying how many pictures it answered."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from serve_fixtures import calibrated_bundle, multipart, request, same_item

from cnnstudio.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return calibrated_bundle(tmp_path_factory.mktemp("serve-cli"))


class Served:
    """`cnnstudio serve ARGS --port 0` in its own process; its URL read from what it prints."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cnnstudio", "serve", *args, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        timer = threading.Timer(120, self.proc.kill)  # never hang the test run
        timer.start()
        try:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("Press Ctrl-C"):
                    break
        finally:
            timer.cancel()
        found = re.search(r"Serving at (http://\S+) ", "\n".join(self.lines))
        assert found, "\n".join(self.lines) + self.proc.stderr.read()
        self.url = found.group(1)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, "\n".join(self.lines) + "\n" + out + err


def test_serve_answers_as_predict_json_picture_for_picture(model, capsys):
    code = main(["predict", str(model.bundle), *model.pictures, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rel = {path: Path(path).relative_to(model.data).as_posix() for path in model.pictures}
    expected = {rel[p["path"]]: p for p in json.loads(out)["predictions"]}
    assert len(expected) == len(model.pictures) and {p["unknown"] for p in expected.values()} == {True, False}

    served = Served(str(model.bundle))
    try:
        assert "to this computer only" in "\n".join(served.lines)
        assert (
            f'Try it: curl --data-binary @photo.jpg -H "Content-Type: image/jpeg" {served.url}/predict'
            in served.lines
        )
        for path in model.pictures:
            name = rel[path]
            status, body, _ = request(
                served.url + "/predict", "POST", Path(path).read_bytes(), {"X-Filename": name}
            )
            assert status == 200, body
            same_item(body, expected[name], path=name)
        form, content_type = multipart([(rel[p], Path(p).read_bytes()) for p in model.pictures])
        status, body, _ = request(served.url + "/predict", "POST", form, {"Content-Type": content_type})
        assert status == 200 and body["problems"] == []
        for item in body["predictions"]:
            same_item(item, expected[item["path"]])
    finally:
        code, text = served.stop()
    assert code in (0, 130), text
    assert f"Stopped after answering {2 * len(model.pictures)} pictures." in text


def test_other_address_needs_a_token_and_prints_what_it_exposes(model, capsys):
    code = main(["serve", str(model.bundle), "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 2 and "--token" in err and "other computers" in err

    served = Served(str(model.bundle), "--host", "0.0.0.0", env={"CNNSTUDIO_SERVE_TOKEN": "a-long-secret"})
    try:
        text = "\n".join(served.lines)
        assert "every computer that can reach this one on the network" in text
        assert "Authorization: Bearer" in text and "a-long-secret" not in text
        assert '-H "Authorization: Bearer TOKEN"' in text  # the example, without the secret
        picture = Path(model.pictures[0]).read_bytes()
        assert request(served.url + "/predict", "POST", picture)[0] == 401
        status, body, _ = request(
            served.url + "/predict", "POST", picture, {"Authorization": "Bearer a-long-secret"}
        )
        assert status == 200 and body["label"].startswith("class_")
    finally:
        served.stop()


def test_help_and_bad_model(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for words in ("--token", "--max-bytes", "--cors", "/predict", "curl"):
        assert words in out
    code = main(["serve", str(tmp_path / "missing.cnnmodel")])
    assert code == 2 and "does not exist" in capsys.readouterr().err

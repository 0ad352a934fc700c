"""A full disk is a message in words, never a crash (SIGBUS) and never damage to what was saved: the
decode cache checks the free space and allocates its file for real before mapping it; the feature
cache, checkpoints and every atomic write turn "no space left" into "needs X MB in FOLDER, Y MB
free". On a real 2 MB tmpfs where the test may mount one (root), and everywhere by making the free
space look small or allocation fail."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnstudio.core.atomic as atomic
from cnnstudio.core.atomic import NoSpaceError, write_bytes_atomic
from cnnstudio.core.dataset import DecodeCache
from cnnstudio.core.errors import UserError

Usage = namedtuple("Usage", "total used free")


def pictures(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.png"
        Image.new("RGB", (40, 30), (i * 7 % 256, i * 3 % 256, 100)).save(path)
        paths.append(str(path))
    return paths


def little_free_space(monkeypatch, free: int = 100_000) -> None:
    real = shutil.disk_usage

    def usage(path):
        total, used, _ = real(path)
        return Usage(total, used, free)

    monkeypatch.setattr(shutil, "disk_usage", usage)


@pytest.fixture
def tmpfs(tmp_path):
    """A real 2 MB filesystem, when this test may mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        print("SKIPPED the tmpfs variant: mounting a filesystem needs root")
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"SKIPPED the tmpfs variant: mount failed ({done.stderr.strip()})")
        pytest.skip(f"mount failed: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_decoding_onto_a_full_tmpfs_says_so_and_keeps_what_was_saved(tmp_path, tmpfs):
    """Before the fix: the process died of SIGBUS (exit -7) while writing a sparse mapped file."""
    images = pictures(tmp_path / "img", 30)
    saved = tmpfs / "project.json"
    saved.write_text('{"keep": "me"}', encoding="utf-8")
    code = textwrap.dedent(
        f"""
        import sys
        from cnnstudio.core.dataset import DecodeCache
        from cnnstudio.core.errors import UserError
        paths = {images!r}
        cache = DecodeCache({str(tmpfs / "cache")!r})
        cache.load(paths[:4], 32, 32, 3, "crop")  # fits: 64 rows of 3 kB
        try:
            cache.load(paths, 160, 160, 3, "crop")  # 64 rows of 77 kB: 4.9 MB on a 2 MB disk
        except UserError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
    message = done.stdout.strip()
    assert "needs 4.9 MB in" in message and str(tmpfs / "cache") in message and "MB free" in message
    assert saved.read_text(encoding="utf-8") == '{"keep": "me"}'
    again = DecodeCache(tmpfs / "cache").load(images[:4], 32, 32, 3, "crop")  # the first store still works
    assert again.shape == (4, 3, 32, 32)
    assert not list((tmpfs / "cache").rglob("*.tmp"))  # no half-made file left behind


def test_an_atomic_write_onto_a_full_tmpfs_keeps_the_old_file(tmpfs):
    target = tmpfs / "best.safetensors"
    write_bytes_atomic(target, b"old weights")
    with pytest.raises(NoSpaceError) as caught:
        write_bytes_atomic(target, os.urandom(3_000_000))
    assert "needs 3.0 MB in" in str(caught.value) and "MB free" in str(caught.value)
    assert target.read_bytes() == b"old weights"
    assert [p.name for p in tmpfs.iterdir()] == ["best.safetensors"]


def test_the_decode_cache_checks_free_space_first(tmp_path, monkeypatch):
    images = pictures(tmp_path / "img", 10)
    cache = DecodeCache(tmp_path / "cache")
    first = np.array(cache.load(images[:3], 16, 16, 3, "crop"))
    little_free_space(monkeypatch, free=50_000)
    with pytest.raises(UserError) as caught:
        cache.load(images, 64, 64, 3, "crop")  # 64 rows of 12 kB = 0.8 MB
    text = str(caught.value)
    assert "needs 0.8 MB in" in text and "0.1 MB free" in text and str(tmp_path / "cache") in text
    monkeypatch.undo()
    assert np.array_equal(DecodeCache(tmp_path / "cache").load(images[:3], 16, 16, 3, "crop"), first)


def test_allocation_that_fails_is_a_message_not_a_signal(tmp_path, monkeypatch):
    images = pictures(tmp_path / "img", 10)
    cache = DecodeCache(tmp_path / "cache")
    first = np.array(cache.load(images[:3], 16, 16, 3, "crop"))
    calls = []

    def full(fd, offset, length):
        calls.append(length)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(NoSpaceError, match=r"needs 0\.\d MB in .* MB free"):
        cache.load(images, 64, 64, 3, "crop")
    assert calls  # the file was allocated for real before it was mapped
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    monkeypatch.undo()
    assert np.array_equal(DecodeCache(tmp_path / "cache").load(images[:3], 16, 16, 3, "crop"), first)


def test_an_atomic_write_that_runs_out_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "run" / "evaluation.json"
    atomic.write_json_atomic(target, {"accuracy": 0.9})
    little_free_space(monkeypatch, free=10)
    with pytest.raises(NoSpaceError) as caught:
        atomic.write_json_atomic(target, {"accuracy": 0.95, "pad": "x" * 2000})
    assert "MB free" in str(caught.value) and str(target.parent) in str(caught.value)
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)  # crosses processes intact
    monkeypatch.undo()
    # the disk fills while writing: ENOSPC from the write itself
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r": Full(real_fdopen(fd, mode)))
    with pytest.raises(NoSpaceError, match="Not enough disk space"):
        write_bytes_atomic(target, b"{}")
    monkeypatch.undo()
    assert json.loads(target.read_text(encoding="utf-8")) == {"accuracy": 0.9}
    assert [p.name for p in target.parent.iterdir()] == ["evaluation.json"]


def test_a_checkpoint_on_a_full_disk_keeps_the_last_one(tmp_path, monkeypatch):
    import torch

    from cnnstudio.core.train import checkpoints as ckpt

    run = tmp_path / "run"
    run.mkdir()
    weights = {"w": torch.ones(3)}
    ckpt.save_last(run, weights, {"seq": 1, "epoch": 0})
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    little_free_space(monkeypatch, free=10)
    with pytest.raises(NoSpaceError, match="MB free"):
        ckpt.save_last(run, {"w": torch.zeros(3)}, {"seq": 2, "epoch": 1})
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_the_feature_cache_checks_free_space(tmp_path, monkeypatch):
    from cnnstudio.core.train.features import FeatureStore

    store = FeatureStore(tmp_path / "features", (8,))
    store.add(np.arange(32, dtype=np.uint8).reshape(2, 16), np.ones((2, 8), dtype=np.float32))
    before = {p.name: p.read_bytes() for p in (tmp_path / "features").iterdir()}
    little_free_space(monkeypatch, free=10)
    keys = np.arange(16 * 100, dtype=np.uint8).reshape(100, 16)
    with pytest.raises(NoSpaceError, match="MB free"):
        store.add(keys, np.zeros((100, 8), dtype=np.float32))
    assert {p.name: p.read_bytes() for p in (tmp_path / "features").iterdir()} == before


def test_cnnstudio_train_on_a_full_disk_says_what_it_needs(tmp_path, monkeypatch, tiny_image_folder, capsys):
    from cnnstudio.cli import main

    data = tiny_image_folder(classes=2, per_class=4)
    little_free_space(monkeypatch, free=150_000)  # the project's files fit, the decoded pictures not
    args = ["train", str(data), "--project", str(tmp_path / "p"), "--template", "tiny", "--epochs", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Not enough disk space: decoding the pictures needs 0.2 MB in" in err and "0.1 MB free" in err
    assert str(tmp_path / "p" / "cache") in err
    monkeypatch.undo()
    assert main([*args, "--augment", "none", "--json"]) == 0  # with room again, it trains


def test_training_that_fills_the_disk_stops_with_words_and_keeps_its_checkpoint(
    tmp_path, monkeypatch, tiny_image_folder
):
    from cnnstudio.core.pipeline import open_or_create_project, train_project
    from cnnstudio.core.runs import BEST_WEIGHTS, read_json_object
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import AugmentConfig, TrainConfig

    project = open_or_create_project(tiny_image_folder(classes=2, per_class=4), tmp_path / "p")
    config = TrainConfig(epochs=3, batch_size=4, device="cpu", augment=AugmentConfig.none())
    saved = {}

    class FillTheDisk:
        def on_epoch_end(self, epoch, logs):
            if epoch == 0:
                run_dir = sorted(project.runs_dir.iterdir())[-1]
                saved.update({p.name: p.read_bytes() for p in run_dir.glob("*.safetensors")})
                little_free_space(monkeypatch, free=3000)  # room for state.json, not for weights

    with pytest.raises(NoSpaceError, match="Not enough disk space: saving"):
        train_project(project, template("tiny"), config, callbacks=[FillTheDisk()])
    monkeypatch.undo()
    run_dir = sorted(project.runs_dir.iterdir())[-1]
    state = read_json_object(run_dir / "state.json")
    assert state["status"] == "crashed" and state["message"].startswith(
        "Training stopped: Not enough disk space"
    )
    assert BEST_WEIGHTS in saved
    assert {p.name: p.read_bytes() for p in run_dir.glob("*.safetensors")} == saved  # epoch 1's, intact

"""Errors that used to be swallowed now surface with their reason."""

from __future__ import annotations

import pytest
from torch import nn

from cnnstudio.core.dataset.problems import DAMAGED, UNREADABLE, problem_kind, unexpected_decode_reason
from cnnstudio.core.train.spec_bridge import regularization_of


class _PenalisedLayer(nn.Module):
    """A layer asking for an L2 penalty, as the spec builder's Conv2D/Dense do."""

    def __init__(self, kernel) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.l1, self.l2 = 0.0, 0.5
        self.kernel = kernel


def test_regularization_of_returns_the_penalty_when_one_is_asked_for():
    layer = _PenalisedLayer(None)
    layer.kernel = layer.lin.weight
    penalty = regularization_of(layer)
    assert penalty is not None
    assert penalty(layer).item() == pytest.approx(0.5 * layer.lin.weight.pow(2).sum().item())


def test_regularization_of_raises_instead_of_dropping_a_broken_penalty():
    # Before: any error made it return None, and training went on without the user's L2 penalty.
    broken = _PenalisedLayer("not a tensor")
    with pytest.raises(AttributeError, match="pow"):
        regularization_of(broken)


def test_regularization_of_is_none_without_penalties():
    assert regularization_of(nn.Sequential(nn.Linear(3, 2))) is None
    assert regularization_of(nn.Sequential(nn.ReLU())) is None


def test_unexpected_decode_error_keeps_its_reason():
    reason = unexpected_decode_reason(ValueError("tile cannot extend outside image"))
    assert problem_kind(reason) == DAMAGED
    assert "tile cannot extend outside image" in reason
    reason = unexpected_decode_reason(PermissionError(13, "Permission denied"))
    assert problem_kind(reason) == UNREADABLE
    assert "Permission denied" in reason
    assert "RuntimeError" in unexpected_decode_reason(RuntimeError())


def test_atomic_writes_do_not_touch_the_process_umask(tmp_path, monkeypatch):
    """os.umask is process-wide: setting it per write would race with threads creating files.
    The umask is read once at import; writing never calls os.umask again."""
    import os
    import stat

    from cnnstudio.core import atomic

    def no_umask(*_args):
        raise AssertionError("os.umask called during a write")

    monkeypatch.setattr(os, "umask", no_umask)
    path = tmp_path / "saved.json"
    atomic.write_json_atomic(path, {"a": 1})
    assert path.read_text(encoding="utf-8") == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~atomic._UMASK

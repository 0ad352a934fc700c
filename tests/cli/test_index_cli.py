"""`cnnstudio index`: text and JSON reports, --quick without torch, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.cli import main


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = write_tiny_image_folder(tmp_path / "pets", classes=2, per_class=12)
    (root / "class_0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (root / "class_1" / "empty.png").write_bytes(b"")
    return root


def test_json_report_shape(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--json", str(dataset)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "class_folders" and report["checked"] is True
    assert report["classes"] == {"class_0": 12, "class_1": 12}
    assert report["usable"] == 24
    assert sorted((Path(p["path"]).name, p["reason"].split(" (")[0]) for p in report["problems"]) == [
        ("broken.jpg", "damaged or cut-off image"),
        ("empty.png", "empty file"),
    ]
    assert set(report["splits"]) == {"train", "val", "test"}
    assert report["health"]["imbalance_ratio"] == 1.0
    assert any("2 files cannot be used" in w for w in report["warnings"])


def test_text_report_lists_classes_problems_and_warnings(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "class_0" in out and "Usable pictures: 24 of 26" in out
    assert "class_0/broken.jpg: damaged or cut-off image" in out
    assert "class_1/empty.png: empty file (0 bytes)" in out
    assert "Warnings:" in out


def test_quick_opens_no_file(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "--quick", "--json", str(dataset)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] is False and report["usable"] == 26 and report["problems"] == []
    assert report["health"]["duplicates_checked"] is False


def test_quick_does_not_import_torch_numpy_or_pillow(dataset: Path) -> None:
    code = (
        "import sys\n"
        "from cnnstudio.cli import main\n"
        f"assert main(['index', '--quick', {str(dataset)!r}]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_full_check_does_not_import_torch(dataset: Path) -> None:
    code = (
        "import sys\n"
        "from cnnstudio.cli import main\n"
        f"assert main(['index', {str(dataset)!r}]) == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_missing_folder_and_folder_without_pictures_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    assert main(["index", "--quick", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No pictures were found" in err


def test_all_files_broken_still_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "x.png").write_bytes(b"")
    assert main(["index", str(tmp_path / "d")]) == 0
    assert "Usable pictures: 0 of 1" in capsys.readouterr().out


def test_progress_line_only_on_a_terminal(
    dataset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["index", str(dataset)]) == 0
    assert "Checking pictures" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["index", str(dataset)]) == 0
    assert "Checking pictures: 26 of 26" in capsys.readouterr().err


def test_csv_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tiny_image_folder(tmp_path / "imgs", classes=2, per_class=3)
    lines = [f"{p.relative_to(tmp_path).as_posix()},{p.parent.name}" for p in sorted(root.rglob("*.*"))]
    (tmp_path / "labels.csv").write_text("path,label\n" + "\n".join(lines) + "\n")
    assert main(["index", "--json", str(tmp_path / "labels.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "csv" and report["classes"] == {"class_0": 3, "class_1": 3}

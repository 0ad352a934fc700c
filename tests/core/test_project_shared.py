"""One project, many processes: every project.json write is a read-modify-write of what changed,
under an inter-process lock, so nothing another process wrote is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.project import PROJECT_FILE, Project
from cnnstudio.core.project.lock import project_lock

ROOT = Path(__file__).resolve().parents[2]


def test_a_stale_object_saving_keeps_what_another_wrote(tmp_path, tiny_image_folder):
    Project.create(tmp_path / "p", tiny_image_folder())
    gui = Project.open(tmp_path / "p")  # opened long ago, unsaved edits of its own
    cli = Project.open(tmp_path / "p")
    cli.spec = {"name": "from-cli", "layers": []}
    cli.labels["class_0/a.png"] = "class_1"
    cli.split_assignments["class_0/b.png"] = "val"
    cli.save()

    gui.labels["class_1/c.png"] = "class_0"
    gui.train_config = {"epochs": 3}
    gui.save()  # before: this wrote gui's whole stale project over the CLI's changes

    data = json.loads((tmp_path / "p" / PROJECT_FILE).read_text())
    assert data["spec"] == {"name": "from-cli", "layers": []}
    assert data["labels"] == {"class_0/a.png": "class_1", "class_1/c.png": "class_0"}
    assert data["split"]["assignments"] == {"class_0/b.png": "val"}
    assert data["train_config"] == {"epochs": 3}
    # ... and the saving object now sees the other's changes too.
    assert gui.spec["name"] == "from-cli" and gui.labels["class_0/a.png"] == "class_1"


def test_reload_takes_theirs_keeps_mine_and_reports_conflicts(tmp_path, tiny_image_folder):
    Project.create(tmp_path / "p", tiny_image_folder())
    gui = Project.open(tmp_path / "p")
    other = Project.open(tmp_path / "p")
    other.labels.update({"x.png": "cat", "y.png": "dog"})
    other.spec = {"name": "theirs"}
    other.save()
    gui.labels.update({"x.png": "bird", "z.png": "cat"})  # x.png: relabelled in both
    gui.train_config = {"epochs": 9}
    assert gui.unsaved()

    result = gui.reload()
    assert "2 label changes" in result.theirs and "the model design" in result.theirs
    assert result.conflicts == [("x.png", "bird", "cat")]
    assert gui.labels == {"x.png": "bird", "y.png": "dog", "z.png": "cat"}  # mine kept, theirs taken
    assert gui.spec == {"name": "theirs"} and gui.train_config == {"epochs": 9}
    gui.save()
    data = json.loads((tmp_path / "p" / PROJECT_FILE).read_text())
    assert data["labels"] == {"x.png": "bird", "y.png": "dog", "z.png": "cat"}
    assert not gui.reload().changed


def test_settings_changed_in_two_processes_both_survive(tmp_path, tiny_image_folder):
    p = Project.create(tmp_path / "p", tiny_image_folder())
    p.train_config = {"epochs": 5, "batch_size": 32}
    p.save()
    a, b = Project.open(p.folder), Project.open(p.folder)
    a.train_config["epochs"] = 7
    a.save()
    b.train_config["batch_size"] = 8
    b.save()
    assert Project.open(p.folder).train_config == {"epochs": 7, "batch_size": 8}


def test_the_lock_timeout_names_the_holder(tmp_path, tiny_image_folder):
    Project.create(tmp_path / "p", tiny_image_folder())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from pathlib import Path
                from cnnstudio.core.project.lock import project_lock
                with project_lock(Path({str(tmp_path / "p")!r})):
                    print("held", flush=True)
                    time.sleep(30)
            """),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        project = Project.open(tmp_path / "p")
        project.labels["a.png"] = "cat"
        started = time.monotonic()
        with pytest.raises(UserError) as err, project_lock(project.folder, timeout=0.5):
            pass
        assert time.monotonic() - started < 5
        message = str(err.value)
        assert f"process {holder.pid} on " in message and "-c" in message
        assert "has not finished after 0.5 s. Wait for it to end" in message
    finally:
        holder.kill()
        holder.wait()
    project.save()  # free again
    assert Project.open(tmp_path / "p").labels == {"a.png": "cat"}


HAMMER = """
import json, sys, time
from cnnstudio.core.project import Project
folder, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
project = Project.open(folder)  # one long-lived object, as a GUI holds
for i in range(n):
    project.labels[f"{who}/{i}.png"] = f"class-{who}"
    if i % 5 == 0:
        project.train_config = {**(project.train_config or {}), f"{who}_step": i}
        project.spec = {**(project.spec or {}), f"{who}_layers": i}
    project.save()
print("done", flush=True)
"""

READER = """
import json, sys, time
from pathlib import Path
file = Path(sys.argv[1]) / "project.json"
end = time.monotonic() + float(sys.argv[2])
reads = 0
while time.monotonic() < end:
    json.loads(file.read_text(encoding="utf-8"))  # raises if ever half-written
    reads += 1
print(reads, flush=True)
"""


def test_two_processes_hammering_edits_lose_nothing(tmp_path, tiny_image_folder):
    project = Project.create(tmp_path / "p", tiny_image_folder())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    n = 60
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(project.folder), "8"], env=env, stdout=subprocess.PIPE, text=True
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(project.folder), who, str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    for w in writers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0 and out.strip() == "done", err
    out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0 and int(out) > 0
    data = json.loads((project.folder / PROJECT_FILE).read_text())
    for who in ("a", "b"):
        for i in range(n):
            assert data["labels"][f"{who}/{i}.png"] == f"class-{who}"
        last = (n - 1) // 5 * 5
        assert data["train_config"][f"{who}_step"] == last
        assert data["spec"][f"{who}_layers"] == last
    assert sorted(p.name for p in project.folder.iterdir()) == [PROJECT_FILE]


RUNS = """
import sys, time
from cnnstudio.core.runs import new_run_dir
runs, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # every process starts at the same instant
print(" ".join(new_run_dir(runs, "same").name for _ in range(10)), flush=True)
"""


def test_run_ids_stay_unique_when_processes_create_runs_at_the_same_second(tmp_path):
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUNS, str(tmp_path / "runs"), str(start)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    names = [n for p in procs for n in p.communicate(timeout=60)[0].split()]
    assert len(names) == 40 and len(set(names)) == 40
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(names)


def test_an_edit_removed_elsewhere_conflicts_with_the_folder_label(tmp_path, tiny_image_folder):
    """They took their edit back (the picture is its folder's class again) while we relabelled it:
    their side of the conflict is the folder's label, not "unlabelled"."""
    Project.create(tmp_path / "p", tiny_image_folder())
    key = "class_0/img_000.png"
    gui = Project.open(tmp_path / "p")
    gui.labels[key] = "class_1"
    gui.save()
    other = Project.open(tmp_path / "p")
    del other.labels[key]  # e.g. an undo there
    other.save()
    gui.labels[key] = "class_2"  # unsaved here

    result = gui.reload()
    assert result.conflicts == [(key, "class_2", "class_0")]  # before: (key, "class_2", None)
    assert result.theirs_removed == {key} and not result.mine_removed
    assert gui.labels[key] == "class_2"  # ours kept until asked
    # The other way round: we removed ours, they changed theirs; ours is the folder's label.
    gui.save()
    other.reload()
    other.labels[key] = "class_1"
    other.save()
    del gui.labels[key]
    result = gui.reload()
    assert result.conflicts == [(key, "class_0", "class_1")] and result.mine_removed == {key}


def test_the_lock_owner_file_never_follows_a_planted_link(tmp_path, tiny_image_folder):
    from cnnstudio.core.project.lock import OWNER_NAME, describe_owner

    project = Project.create(tmp_path / "p", tiny_image_folder())
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious", encoding="utf-8")
    (project.folder / OWNER_NAME).symlink_to(target)
    with project_lock(project.folder):
        owner = project.folder / OWNER_NAME
        assert not owner.is_symlink() and json.loads(owner.read_text())["pid"] == os.getpid()
        assert describe_owner(project.folder).startswith(f"process {os.getpid()} on ")
    assert target.read_text(encoding="utf-8") == "precious"  # before: the owner record was written there
    assert not (project.folder / OWNER_NAME).exists()
    project.labels["class_0/img_000.png"] = "class_1"
    project.save()
    assert target.read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in project.folder.iterdir()) == [PROJECT_FILE]

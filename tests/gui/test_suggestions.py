"""Model-assisted labelling in the Data section: badges, useful-first queue, Enter, accept above, undo."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from cnnstudio.gui.data.thumbnail_model import ACCEPTED, ISSUES, SUGGESTION_ROLE, UNLABELLED


def _write_noise(data) -> None:
    """One picture of random pixels, nothing like the classes' stripes: the run flags it unknown."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(5).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(data / "class_0" / "noise.png")


def _trained_browser(open_browser, qtbot, flip: bool = False, per_class: int = 10, noise: bool = False):
    from cnnstudio.core.pipeline import train_project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import AugmentConfig, TrainConfig

    session, browser, data = open_browser(
        classes=3, per_class=per_class, size=24, prepare=_write_noise if noise else None
    )
    if noise:  # unlabelled before training: the run never sees it
        browser.assign([s.path for s in session.index.samples if s.path.endswith("noise.png")], None)
        session.save()
    flipped = None
    if flip:  # one training picture of class_0 gets a wrong label before training
        flipped = next(s.path for s in session.index.samples if s.split == "train" and s.label == "class_0")
        browser.assign([flipped], "class_1")
        session.save()
    config = TrainConfig(epochs=6, batch_size=8, lr=0.01, augment=AugmentConfig.none())
    train_project(session.project, template("tiny"), config, label="first")
    unlabelled = [s.path for s in session.index.samples if s.path.endswith(("img_008.png", "img_009.jpg"))]
    browser.assign(unlabelled, None)
    truth = {p: p.split("/")[-2] for p in unlabelled}
    return session, browser, truth, flipped


def test_suggestions_badges_enter_accept_above_and_undo(open_browser, qtbot):
    session, browser, truth, _ = _trained_browser(open_browser, qtbot)
    bar = browser.suggestions
    assert bar.accept_button.text() == "Accept 0 above" and not bar.accept_button.isEnabled()
    bar.compute()
    qtbot.waitUntil(lambda: bar.result is not None, timeout=30000)
    model = browser.model
    assert model.filter.kind == UNLABELLED and model.rowCount() == 6
    # Useful-first: the queue follows the suggestions' order; every cell has a badge.
    assert [model.sample(r).path for r in range(6)] == [s.path for s in bar.result.suggestions]
    badges = [model.data(model.index(r), SUGGESTION_ROLE) for r in range(6)]
    assert all(b is not None and b[0].startswith("class_") for b in badges)
    assert sum(b[0] == truth[model.sample(r).path] for r, b in enumerate(badges)) >= 5
    # By file name: the index's order.
    bar.order.setCurrentIndex(1)
    names = [model.sample(r).path for r in range(6)]
    assert names == [s.path for s in session.index.samples if s.path in truth]
    bar.order.setCurrentIndex(0)

    # Enter accepts the selected picture's suggestion and moves on; Undo takes it back.
    browser.grid.select_row(0)
    browser.grid.setFocus()
    first = bar.result.suggestions[0]
    qtbot.keyClick(browser.grid, Qt.Key.Key_Return)
    assert session.labels.sample(first.path).label == first.label
    assert session.project.accepted[session.project.key(first.path)]["label"] == first.label
    # Confirmed one by one: a person's label, not a suggestion accepted in bulk.
    assert session.project.accepted[session.project.key(first.path)]["source"] == "confirmed"
    assert model.rowCount() == 5 and browser.grid.selected_rows() == [0]
    assert browser.viewer is None  # Enter did not open the large view
    # A number key gives another class (not marked as accepted).
    second = model.sample(0).path
    qtbot.keyClick(browser.grid, Qt.Key.Key_3)
    assert session.labels.sample(second).label == "class_2"
    assert session.project.key(second) not in session.project.accepted
    session.undo_stack.undo()
    session.undo_stack.undo()
    assert session.labels.sample(first.path).label is None and not session.project.accepted

    # Accept all above a threshold, with the count on the button; one undo step.
    bar.threshold.setValue(50)
    n = len(bar.above_threshold())
    assert n >= 1 and bar.accept_button.text() == f"Accept {n} above"
    bar.accept_button.click()
    assert len(session.project.accepted) == n
    assert bar.accept_button.text() == "Accept 0 above"
    bar.accepted_button.setChecked(True)
    assert model.filter.kind == ACCEPTED and model.rowCount() == n
    assert bar.accepted_button.text() == f"Accepted suggestions ({n})"
    session.undo_stack.undo()
    qtbot.waitUntil(lambda: model.rowCount() == 0)
    assert not session.project.accepted


def test_training_label_errors_reviewed_in_the_queue(open_browser, qtbot):
    session, browser, _truth, flipped = _trained_browser(open_browser, qtbot, flip=True, per_class=24)
    bar = browser.suggestions
    bar.check_training_labels(folds=3, epochs=6)
    qtbot.waitUntil(lambda: bar.errors is not None, timeout=60000)
    assert bar.issues_button.isEnabled() and bar.issues_button.isChecked(), bar.errors
    assert bar.errors.issues[0]["path"] == flipped and bar.errors.issues[0]["suggested"] == "class_0"
    model = browser.model
    assert model.filter.kind == ISSUES and model.rowCount() == len(bar.errors.issues)
    first = bar.errors.issues[0]
    assert model.sample(0).path == first["path"]
    browser.grid.setFocus()
    qtbot.keyClick(browser.grid, Qt.Key.Key_Return)
    assert session.labels.sample(first["path"]).label == first["suggested"]
    session.undo_stack.undo()
    assert session.labels.sample(first["path"]).label == first["label"]


def test_badge_tooltip_explains_the_suggestion(open_browser, qtbot):
    session, browser, _truth, _ = _trained_browser(open_browser, qtbot)
    browser.model.set_suggestions({session.index.samples[0].path: ("class_1", 0.42, True)}, None)
    browser.show_filter("all")
    tip = browser.model.data(browser.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "The model suggests: class_1 (42% sure)" in tip and "unlike the training pictures" in tip


def test_accept_all_above_skips_flagged_pictures_and_its_pictures_only_train(open_browser, qtbot):
    session, browser, truth, _ = _trained_browser(open_browser, qtbot, noise=True)
    project = session.project
    stored = dict(project.split_assignments)
    bar = browser.suggestions
    bar.compute()
    qtbot.waitUntil(lambda: bar.result is not None, timeout=30000)
    noise = next(s for s in bar.result.suggestions if s.path.endswith("noise.png"))
    assert noise.unknown  # flagged by the run's fitted threshold
    noise.confidence = 0.99  # sure of a class, and still never accepted in bulk
    bar.threshold.setValue(50)
    chosen = bar.above_threshold()
    assert chosen and noise not in chosen and bar.accept_button.text() == f"Accept {len(chosen)} above"
    bar.accept_button.click()
    assert session.labels.sample(noise.path).label is None
    assert {project.accepted[project.key(s.path)]["source"] for s in chosen} == {"bulk"}
    assert "never grade it" in bar.info.text()
    session.save()
    split_of = {s.path: s.split for s in session.index.samples}
    assert {split_of[s.path] for s in chosen} == {"train"}  # they train, whatever place they had
    assert any(stored.get(project.key(s.path)) in ("val", "test") for s in chosen)
    people = [s for s in session.index.samples if s.label is not None and s.path not in truth]
    assert all(s.split == stored[project.key(s.path)] for s in people)  # people's pictures stay put


def test_validate_on_accepted_suggestions_apart_is_a_project_setting(open_browser, qtbot):
    session, browser, truth, _ = _trained_browser(open_browser, qtbot)
    bar = browser.suggestions
    assert not bar.apart.isChecked() and not session.project.suggestions_apart
    bar.compute()
    qtbot.waitUntil(lambda: bar.result is not None, timeout=30000)
    bar.threshold.setValue(50)
    chosen = bar.above_threshold()
    bar.accept_button.click()
    session.save()
    paths = {s.path for s in chosen}
    assert {s.split for s in session.index.samples if s.path in paths} == {"train"}
    with qtbot.waitSignal(session.splits_changed, timeout=5000):
        bar.apart.setChecked(True)
    assert session.project.suggestions_apart
    from cnnstudio.core.project import Project

    assert Project.open(session.project.folder).suggestions_apart  # saved
    apart = {s.path for s in session.index.samples if s.path in paths and s.split == "val"}
    on_disk = {s.path for s in Project.open(session.project.folder).index().samples if s.split == "val"}
    assert apart and apart <= on_disk  # the session shows what the project gives
    bar.apart.setChecked(False)
    assert {s.split for s in session.index.samples if s.path in paths} == {"train"}


def test_suggestion_texts_stay_true_after_enter_undo_and_another_project(open_browser, qtbot, tmp_path):
    """What the bar and the footer say follows what happened: Enter says it accepted (not the last
    number key's words), an undone "accept all" says so and the queue counts its pictures again, and
    another project without a trained run says that, not the last project's words."""
    from gui_helpers import wait_idle

    from cnnstudio.core.project import Project

    session, browser, _truth, _ = _trained_browser(open_browser, qtbot)
    said: list[str] = []
    session.message.connect(said.append)
    bar = browser.suggestions
    bar.compute()
    qtbot.waitUntil(lambda: bar.result is not None, timeout=30000)
    model = browser.model
    browser.grid.select_row(0)
    browser.grid.setFocus()
    qtbot.keyClick(browser.grid, Qt.Key.Key_1)
    assert said[-1].startswith("Key 1: gave")
    qtbot.keyClick(browser.grid, Qt.Key.Key_Return)
    assert said[-1].startswith("Accepted the suggestion") and "gave" not in bar.info.text()

    queued = model.rowCount()
    bar.threshold.setValue(50)
    n = len(bar.above_threshold())
    assert n >= 2
    bar.accept_button.click()
    assert bar.info.text().startswith(f"Accepted {n} suggestions")
    assert browser.status.text().startswith(f"Showing {queued - n} of")
    session.undo_stack.undo()
    assert bar.info.text().startswith(f"Undone: {n} accepted suggestions are taken back")
    assert model.rowCount() == queued
    assert browser.status.text().startswith(f"Showing {queued} of")

    # Another project, every picture unlabelled, no run: no word of the last project stays.
    bar.info.setText("Every usable picture has a label: there is nothing to suggest.")
    other = Project.create(tmp_path / "other", browser.session.project.source)
    session.open_project(other)
    wait_idle(qtbot, session)
    assert bar.info.text() == ""
    browser.assign([s.path for s in session.index.samples], None)
    bar.compute()
    assert bar.info.text().startswith(
        f"There is no trained run yet to suggest labels for the {len(session.index.samples)}"
    )


def test_checking_training_labels_works_on_a_copy_of_the_live_project(open_browser, qtbot, monkeypatch):
    """The worker gets a snapshot: indexing (and saving new split assignments) in the worker thread
    never changes the project the app is editing."""
    import shutil

    import cnnstudio.core.suggest as suggest_package

    session, browser, _truth, _ = _trained_browser(open_browser, qtbot)
    live = session.project
    # A picture new since the split was stored: indexing gives it a split and saves it.
    first = next(s.path for s in session.index.samples if s.path.endswith("img_000.png"))
    shutil.copy(first, first.replace("img_000.png", "new_000.png"))
    # The app does not take the file's changes in meanwhile (its own save would merge them in).
    session.save()
    session._watcher.blockSignals(True)
    session._disk_timer.stop()
    session._save_timer.stop()
    names = ("labels", "excluded", "split_assignments", "accepted", "extra_classes")
    before = {name: json.dumps(sorted(map(str, getattr(live, name)))) for name in names}
    real = suggest_package.training_label_errors
    seen = {}

    def spy(project, **kwargs):
        seen["live"] = project is live
        seen["shared"] = [n for n in names if getattr(project, n) is getattr(live, n)]
        report = real(project, **kwargs)
        seen["changed"] = [n for n in names if json.dumps(sorted(map(str, getattr(live, n)))) != before[n]]
        seen["worker_assigned"] = any(k.endswith("new_000.png") for k in project.split_assignments)
        return report

    monkeypatch.setattr(suggest_package, "training_label_errors", spy)
    bar = browser.suggestions
    bar.check_training_labels(folds=2, epochs=1)
    qtbot.waitUntil(lambda: bar.errors is not None, timeout=60000)
    # Before: the worker ran on the live project and added the new split assignment to its dict.
    assert seen == {"live": False, "shared": [], "changed": [], "worker_assigned": True}
    assert not any(k.endswith("new_000.png") for k in live.split_assignments)
    session._watcher.blockSignals(False)


def test_after_the_last_picture_suggest_says_what_it_still_does():
    """Issue 23 item 11: after "3,000 / 3,000" the status says the suggestions are being ordered and
    the bar turns busy, instead of sitting full for seconds."""
    from cnnstudio.gui.data.controller import then_scoring

    class Context:
        def __init__(self):
            self.events = []

        def progress(self, done, total):
            self.events.append(("progress", done, total))

        def set_text(self, text):
            self.events.append(("text", text))

    ctx = Context()
    report = then_scoring(ctx)
    report(1500, 3000)
    assert ctx.events == [("progress", 1500, 3000)]
    report(3000, 3000)
    assert ctx.events[1] == ("progress", 3000, 3000)
    assert ctx.events[2][0] == "text" and "3,000 pictures read" in ctx.events[2][1]
    assert ctx.events[3] == ("progress", 0, 0)  # busy

"""A study in a shared storage: a storage that cannot be read is an error in words (never taken for
"no study", which created the study anew over a shared one), and opening a study never overwrites
the design and settings stored in it."""

from __future__ import annotations

import socket

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.errors import UserError
from cnnstudio.core.project import Project
from cnnstudio.core.search import Search, SearchSettings, SearchSpace
from cnnstudio.core.spec import template
from cnnstudio.core.train import AugmentConfig, TrainConfig


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search-storage")
    data = write_tiny_image_folder(root / "data", classes=2, per_class=6, size=16)
    Project.create(root / "proj", data)
    return root / "proj"


def _open(project_dir, storage, name="shared", epochs=1, strategy="random"):
    space = SearchSpace.from_dict({"learning_rate": {"min": 0.003, "max": 0.03}, "batch_size": [8, 16]})
    return Search.open(
        Project.open(project_dir),
        name,
        spec=template("tiny"),
        config=TrainConfig(batch_size=8, epochs=epochs, augment=AugmentConfig.none()),
        settings=SearchSettings(space=space, strategy=strategy, epochs=epochs),
        storage=storage,
    )


def _stored(url, name="shared"):
    import optuna

    return optuna.load_study(study_name=name, storage=url).user_attrs


def test_a_storage_that_cannot_be_read_is_an_error_and_the_study_is_untouched(
    project_dir, tmp_path, monkeypatch
):
    import optuna
    import sqlalchemy.exc

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    _open(project_dir, url, epochs=1).close()
    before = _stored(url)
    assert before["settings"]["epochs"] == 1

    def refused(*_a, **_k):
        raise sqlalchemy.exc.OperationalError(
            "SELECT", {}, Exception('FATAL:  password authentication failed for user "search"')
        )

    monkeypatch.setattr(optuna, "get_all_study_names", refused)
    with pytest.raises(UserError, match="cannot be read.*password authentication failed") as raised:
        _open(project_dir, url, epochs=2, strategy="grid")
    assert "Traceback" not in str(raised.value)
    with pytest.raises(UserError, match="cannot be read"):
        Search.exists(Project.open(project_dir), "shared", url)
    monkeypatch.undo()
    # Before: the error read as "no such study", and the open stored epochs 2 and grid over it.
    assert _stored(url) == before


def test_opening_never_overwrites_a_studys_stored_settings(project_dir, tmp_path, monkeypatch):
    """Another process creates the study between our look and our create: we continue theirs (or
    refuse other settings) and never store ours over it."""
    from cnnstudio.core.search import study as study_module

    url = f"sqlite:///{tmp_path / 'race.db'}"
    _open(project_dir, url, epochs=1).close()
    before = _stored(url)
    monkeypatch.setattr(study_module, "study_exists", lambda *_a, **_k: False)  # it was not there yet
    with pytest.raises(UserError, match="already exists with other settings"):
        _open(project_dir, url, epochs=2, strategy="grid")
    assert _stored(url) == before
    # The same settings: the study is continued as it is.
    search = _open(project_dir, url, epochs=1)
    try:
        assert search.settings.epochs == 1 and search.settings.strategy == "random"
    finally:
        search.close()
    assert _stored(url) == before


def test_a_server_that_does_not_answer_gives_a_message(project_dir):
    pytest.importorskip("psycopg2")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://search:secret@127.0.0.1:{port}/studies"
    with pytest.raises(UserError, match="cannot be opened") as raised:
        _open(project_dir, url)
    assert "secret" not in str(raised.value)

"""Where a project's searches live (search/<name>.db) and how their SQLite file is opened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.project import Project

SEARCH_DIR = "search"


def study_name_ok(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name))


def search_dir(project: Project) -> Path:
    return project.folder / SEARCH_DIR


def study_path(project: Project, name: str) -> Path:
    if not study_name_ok(name):
        raise UserError(
            f"{name!r} cannot name a search: use letters, digits, '.', '-' or '_' (up to 64), "
            "starting with a letter or digit."
        )
    return search_dir(project) / f"{name}.db"


def list_studies(project: Project) -> list[str]:
    """The names of the project's searches, newest first."""
    folder = search_dir(project)
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [p.stem for p in files]


def next_study_name(project: Project, base: str = "search") -> str:
    existing = set(list_studies(project))
    if base not in existing:
        return base
    n = 2
    while f"{base}-{n}" in existing:
        n += 1
    return f"{base}-{n}"


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; we report trials ourselves, in words."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def open_storage(path: Path):
    import optuna
    from sqlalchemy import event

    path.parent.mkdir(parents=True, exist_ok=True)
    # A generous lock timeout: several processes may write trials to the same file at once.
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{path.resolve().as_posix()}", engine_kwargs={"connect_args": {"timeout": 60}}
    )

    # Write-ahead logging: readers do not block the writer (several processes share a study), and a
    # commit is one append instead of a journal round trip; with synchronous=NORMAL a crash of the
    # program still loses nothing committed (only a power cut may lose the last trials' writes).
    def pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # connections made while creating the tables reconnect with the pragmas
    return storage

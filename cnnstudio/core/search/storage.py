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


_DRIVERS = {
    "postgresql": ("PostgreSQL", "psycopg2-binary"),
    "mysql": ("MySQL", "PyMySQL (and write the address as mysql+pymysql://...)"),
}


def storage_label(url: str | None, path: Path) -> str:
    """What to print for where a study lives: the project's file, or the storage without its password."""
    if not url:
        return str(path)
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def open_storage_url(url: str | None, path: Path):
    """The Optuna storage of a study: the project's SQLite file `path` when `url` is empty, else

    - ``journal:FILE``: Optuna's journal file (one append-only file, lock-safe on a shared filesystem);
    - ``postgresql://user:password@host/db``, ``mysql+pymysql://...``, ``sqlite:///FILE``: a database.
    """

    if not url:
        return open_storage(path)
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

        file = Path(url[len("journal:") :]).expanduser()
        if not str(file) or str(file) == ".":
            raise UserError("Give the journal file after 'journal:', e.g. journal:/shared/search.log.")
        file.parent.mkdir(parents=True, exist_ok=True)
        # The open lock (O_EXCL create of a lock file) works on network filesystems, where symlink
        # and flock locks may not.
        backend = JournalFileBackend(str(file), lock_obj=JournalFileOpenLock(str(file)))
        return JournalStorage(backend)
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("postgresql", "postgres", "mysql", "sqlite"):
        raise UserError(
            f"{url!r} is not a search storage CNN Studio knows. Use journal:FILE, "
            "postgresql://user:password@host/database, mysql+pymysql://user:password@host/database "
            "or sqlite:///FILE."
        )
    url = _with_driver(url)
    try:
        return _rdb_storage(url)
    except (ImportError, ModuleNotFoundError) as exc:
        server, package = _DRIVERS.get("postgresql" if scheme == "postgres" else scheme, (scheme, "?"))
        raise UserError(
            f"To keep the search in a {server} database, its driver must be installed: "
            f"pip install {package}. ({exc})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a server that cannot be reached, wrong password, ...
        raise UserError(
            f"The search storage {storage_label(url, path)} cannot be opened: {exc}".splitlines()[0]
        ) from None


def _rdb_storage(url: str):
    """RDBStorage(url), tried again a few times: processes starting together on an empty database
    race to create Optuna's tables, and the losers fail once (the tables are there on the next try)."""
    import random
    import time

    import optuna

    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (ImportError, ModuleNotFoundError):
            raise
        except Exception:  # noqa: BLE001
            if attempt == 4:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _with_driver(url: str) -> str:
    """postgresql://... with whichever PostgreSQL driver is installed (SQLAlchemy assumes psycopg 3)."""
    head, sep, rest = url.partition("://")
    if head not in ("postgresql", "postgres") or not sep:
        return url
    import importlib.util

    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"{dialect}://{rest}"
    return f"postgresql+psycopg2://{rest}"  # not installed: the error names psycopg2-binary


def close_storage(storage) -> None:
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


def study_exists(storage, name: str, label: str = "The search storage") -> bool:
    """Whether the storage holds the study `name`. A storage that cannot be read (the server does not
    answer, the password is refused, the file is damaged) raises UserError: taking it for "no study"
    would create the study anew over one that other computers share."""
    import optuna

    try:
        return name in optuna.get_all_study_names(storage=storage)
    except Exception as exc:  # noqa: BLE001 - a server that cannot be reached, wrong password, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(
            f"{label} cannot be read, so it is not known whether the search {name!r} exists there: "
            f"{first}. Check that it can be reached (address, user and password), then try again."
        ) from None

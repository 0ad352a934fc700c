"""The app's own weights folder (`<user data folder>/weights`, under $CNNSTUDIO_DATA_DIR when set):
imported files with where they came from, and the fingerprints of the official files checked.

An imported file is never written under torchvision's official file name nor into torch's hub
folder (torchvision elsewhere on the computer would load it as ImageNet's): it lives in
`weights/imported/<arch>.pth` beside `<arch>.json`, its provenance record (the source file, the
SHA-256 of the source and of the stored file, the date). An official file is trusted only once its
SHA-256 starts with the hex digits in its name (torch.hub's rule); the result is kept in
`weights/checked.json` by path, size and modification time, so a file is hashed again only when it
changes. No torch here: the Model section's first paint uses this.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cnnstudio.core.atomic import write_bytes_atomic, write_json_atomic
from cnnstudio.core.paths import user_data_dir

SCHEMA_VERSION = 1
# torch.hub's own rule: the hex digits after the last "-" of the file name start its SHA-256.
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
CHECKED_FILE = "checked.json"

_lock = threading.Lock()
_memory: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256)


def weights_dir() -> Path:
    return user_data_dir() / "weights"


def imported_dir() -> Path:
    return weights_dir() / "imported"


def imported_path(arch: str) -> Path:
    return imported_dir() / f"{arch}.pth"


def record_path(arch: str) -> Path:
    return imported_dir() / f"{arch}.json"


@dataclass(frozen=True)
class ImportRecord:
    """Where an imported file came from."""

    arch: str
    source_file: str  # the file the user imported, as given (absolute)
    source_sha256: str  # of that file's bytes
    stored_sha256: str  # of the file kept in the app's folder (plain tensors)
    imported_at: str  # ISO 8601, UTC
    official: bool  # the source was byte for byte torchvision's official file

    @property
    def source_name(self) -> str:
        return self.source_file.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def date(self) -> str:
        return self.imported_at[:10]

    def describe(self) -> str:
        """For the Model section and `weights list`: "imported from mine.pth"."""
        return f"imported from {self.source_name}"

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> ImportRecord:
        return cls(
            str(data["arch"]),
            str(data["source_file"]),
            str(data["source_sha256"]),
            str(data["stored_sha256"]),
            str(data["imported_at"]),
            bool(data.get("official", False)),
        )


def save_import(arch: str, data: bytes, source: Path, source_sha256: str, official: bool) -> ImportRecord:
    """Keep `data` as `arch`'s imported weights, with its record; both written atomically."""
    record = ImportRecord(
        arch,
        str(Path(source).expanduser().absolute()),
        source_sha256,
        hashlib.sha256(data).hexdigest(),
        datetime.now(UTC).isoformat(timespec="seconds"),
        official,
    )
    write_bytes_atomic(imported_path(arch), data)
    write_json_atomic(record_path(arch), record.to_dict())
    return record


def imported(arch: str) -> ImportRecord | None:
    """The record of `arch`'s imported weights when the file is there and still the one imported."""
    path = imported_path(arch)
    try:
        data = json.loads(record_path(arch).read_text(encoding="utf-8"))
        record = ImportRecord.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if record.arch != arch or not path.is_file() or file_sha256(path) != record.stored_sha256:
        return None
    return record


def forget_import(arch: str) -> bool:
    """Remove `arch`'s imported weights and record; whether there were any."""
    found = False
    for path in (record_path(arch), imported_path(arch)):
        if path.exists():
            path.unlink()
            found = True
    return found


def official_prefix(path: Path) -> str:
    match = HASH_REGEX.search(Path(path).name)
    return match.group(1) if match else ""


def is_official(path: Path) -> bool:
    """Whether the file's SHA-256 starts with the hex digits in its name (hashed once per change)."""
    prefix = official_prefix(path)
    if not prefix:
        return False
    try:
        return file_sha256(path).startswith(prefix)
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    """The file's SHA-256, remembered (in memory and in checked.json) by path, size and mtime."""
    path = Path(path)
    stat = path.stat()
    key = str(path.absolute())
    with _lock:
        known = _memory.get(key)
        if known is None:
            known = _read_checked().get(key)
            if known is not None:
                _memory[key] = known
    if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
        return known[2]
    digest = _hash_file(path)
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):  # not changed meanwhile
        with _lock:
            _memory[key] = (stat.st_size, stat.st_mtime_ns, digest)
            _write_checked(key, _memory[key])
    return digest


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checked() -> dict[str, tuple[int, int, str]]:
    try:
        data = json.loads((weights_dir() / CHECKED_FILE).read_text(encoding="utf-8"))
        return {k: (int(v["size"]), int(v["mtime_ns"]), str(v["sha256"])) for k, v in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_checked(key: str, value: tuple[int, int, str]) -> None:
    """Add one fingerprint to checked.json; a folder that cannot be written only costs a rehash."""
    files = {k: {"size": s, "mtime_ns": m, "sha256": h} for k, (s, m, h) in _read_checked().items()}
    files[key] = {"size": value[0], "mtime_ns": value[1], "sha256": value[2]}
    try:
        write_json_atomic(weights_dir() / CHECKED_FILE, {"schema_version": SCHEMA_VERSION, "files": files})
    except OSError:
        pass

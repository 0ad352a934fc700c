"""Reading a JSON file a person gave (a model design, a search space) with errors in plain words:
the file is missing, cannot be read, or is not valid JSON (with the line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import UserError


def read_text_file(path: Path | str, what: str) -> str:
    """The text of `path`; `what` names the file in the message ("model design file")."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"There is no {what} at {path}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"The {what} {path} cannot be read ({exc}).") from exc


def parse_json_text(text: str, what: str, path: Path | str | None = None) -> Any:
    """`text` as JSON, or a UserError that says where it is not valid: "This {what} is not valid
    JSON (Expecting value, line 3)", or with `path`: "The {what} PATH is not valid JSON (...)"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        name = f"The {what} {path}" if path is not None else f"This {what}"
        raise UserError(f"{name} is not valid JSON ({exc.msg}, line {exc.lineno}).") from exc


def read_json_file(path: Path | str, what: str) -> Any:
    """The JSON in the file `path`, with the messages of `read_text_file` and `parse_json_text`."""
    return parse_json_text(read_text_file(path, what), what, path)

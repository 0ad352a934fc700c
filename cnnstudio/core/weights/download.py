"""Fetch a backbone's official weights file into torch's hub checkpoints folder.

From torchvision's server, an organisation's mirror (a URL base) or a folder (USB stick, shared
drive) holding the same file names. The bytes go to `<file>.partial` first; an interrupted download
continues from there (HTTP Range); the finished file must pass torch.hub's check (its SHA-256 starts
with the hex digits in its name) before it takes its real name, else it is deleted. This is the only
place the app connects to the network, and only when asked to.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from cnnstudio.core.errors import UserError
from cnnstudio.core.weights.entries import ENV_SOURCE, WeightsEntry, entry, source_of

CHUNK = 1 << 16
Progress = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)


class FetchCancelled(UserError):
    """The user stopped the download; the part already fetched is kept for resuming."""

    def __init__(self):
        super().__init__("The download was stopped; the part already fetched is kept for next time.")


def partial_path(item: WeightsEntry) -> Path:
    return item.target.with_name(item.target.name + ".partial")


def fetch(
    name: str,
    source: str | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch `name`'s weights (a template name) and return where they now are. A file already
    present is returned as it is. Raises UserError in plain words, FetchCancelled when stopped."""
    item = entry(name)
    if item.target.is_file():
        return item.target
    src = source_of(item, source)
    partial = partial_path(item)
    partial.parent.mkdir(parents=True, exist_ok=True)
    if "://" in src:
        _download(item, src, partial, progress, stop, timeout)
    else:
        _copy(item, Path(src), partial, progress, stop)
    _verify(item, partial, src)
    os.replace(partial, item.target)
    return item.target


def _verify(item: WeightsEntry, partial: Path, src: str) -> None:
    digest = hashlib.sha256()
    with open(partial, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    found = digest.hexdigest()
    if not found.startswith(item.sha256_prefix):
        partial.unlink(missing_ok=True)
        raise UserError(
            f"The file fetched from {src} is not the official {item.file_name}: its SHA-256 fingerprint "
            f"starts with {found[: len(item.sha256_prefix)]}, the official one with {item.sha256_prefix}. "
            "It was damaged or changed on the way, so it was deleted. Try again, or fetch it from "
            "another source."
        )


def _copy(item: WeightsEntry, src: Path, partial: Path, progress, stop) -> None:
    if not src.is_file():
        raise UserError(
            f"There is no {item.file_name} in {src.parent}. That folder must hold the official file "
            f"under its own name (copy it from torch's checkpoints folder on a computer that has it)."
        )
    total = src.stat().st_size
    done = 0
    with open(src, "rb") as inp, open(partial, "wb") as out:
        for block in iter(lambda: inp.read(CHUNK), b""):
            if stop is not None and stop():
                raise FetchCancelled()
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total)


def _offline_help(item: WeightsEntry) -> str:
    return (
        f"Without internet: copy {item.file_name} from a computer that has it onto a USB stick or a "
        f"shared folder and run `cnnstudio weights get {item.name} --from FOLDER` (or choose the folder "
        f"in the app's download dialog); point --from, the dialog or {ENV_SOURCE} at your "
        "organisation's mirror; or run "
        "`cnnstudio weights import FILE` with a weights file you already have."
    )


def _download(item: WeightsEntry, url: str, partial: Path, progress, stop, timeout: float) -> None:
    host = urlsplit(url).netloc or url
    have = partial.stat().st_size if partial.is_file() else 0
    headers = {"User-Agent": "cnnstudio"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)  # noqa: S310 - http(s) only
    except HTTPError as exc:
        if exc.code == 416 and have:  # the part we have is already the whole file
            return
        raise UserError(
            f"{host} answered '{exc.code} {exc.reason}' for {item.file_name}. " + _offline_help(item)
        ) from exc
    except TimeoutError as exc:
        raise UserError(_timeout_text(item, host, timeout)) from exc
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise UserError(_timeout_text(item, host, timeout)) from exc
        if isinstance(reason, socket.gaierror):
            reason = "its name cannot be looked up: is this computer offline?"
        elif isinstance(reason, ConnectionRefusedError):
            reason = "nothing answers there"
        raise UserError(f"Could not reach {host} ({reason}). " + _offline_help(item)) from exc
    with response:
        resumed = response.status == 206
        done = have if resumed else 0
        length = int(response.headers.get("Content-Length") or 0)
        total = done + length if length else 0
        try:
            with open(partial, "ab" if resumed else "wb") as out:
                while True:
                    if stop is not None and stop():
                        raise FetchCancelled()
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except TimeoutError as exc:
            raise UserError(_timeout_text(item, host, timeout)) from exc
        except (http.client.HTTPException, ConnectionError) as exc:  # the connection dropped
            raise UserError(_stopped_text(host, done, total)) from exc
    if total and done < total:
        raise UserError(_stopped_text(host, done, total))


def _stopped_text(host: str, done: int, total: int) -> str:
    return (
        f"The download from {host} stopped at {done:,} of {total:,} bytes. The part already "
        "fetched is kept: try again and it continues from there."
    )


def _timeout_text(item: WeightsEntry, host: str, timeout: float) -> str:
    return (
        f"{host} did not answer within {timeout:g} seconds. Any part already fetched is kept: try "
        "again and it continues from there. " + _offline_help(item)
    )

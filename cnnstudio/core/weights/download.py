"""Fetch a backbone's official weights file into torch's hub checkpoints folder.

From torchvision's server, an organisation's mirror (a URL base) or a folder (USB stick, shared
drive) holding the same file names. The bytes go to `<file>.partial` first; an interrupted download
continues from there (HTTP Range); the finished file must pass torch.hub's check (its SHA-256 starts
with the hex digits in its name) before it takes its real name, else it is deleted. This is the only
place the app downloads anything, and only when asked to.

Only https:// goes, and http:// from a mirror the user named (--from, the dialog, or
$CNNSTUDIO_WEIGHTS_FROM); a redirect may not leave those (no ftp://, no file://, no https to http).
Reading stops at the catalogue's size plus a margin: a server that sends more is refused.
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
from urllib.request import (
    HTTPDefaultErrorHandler,
    HTTPErrorProcessor,
    HTTPHandler,
    HTTPRedirectHandler,
    HTTPSHandler,
    OpenerDirector,
    ProxyHandler,
    Request,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.weights.entries import ENV_SOURCE, WeightsEntry, entry, explicit_source, source_of

CHUNK = 1 << 16
MARGIN = 1 << 20  # the catalogue's sizes are torchvision's, to the kB: 1 MiB more is plenty
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
    """Fetch `name`'s official weights (a template name) and return where they now are. The official
    file already here (its SHA-256 checked) is returned as it is; a file under its name that is not
    it is replaced. Raises UserError in plain words, FetchCancelled when stopped."""
    item = entry(name)
    here = item.official
    if here is not None:
        return here
    src = source_of(item, source)
    if "://" in src:
        check_url(src, explicit_source(source))
    partial = partial_path(item)
    partial.parent.mkdir(parents=True, exist_ok=True)
    if "://" in src:
        _download(item, src, partial, progress, stop, timeout)
    else:
        _copy(item, Path(src), partial, progress, stop)
    _verify(item, partial, src)
    os.replace(partial, item.target)
    return item.target


def check_url(url: str, explicit: bool) -> None:
    """Refuse, in words, a URL that is neither https nor http from a mirror the user named."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and explicit):
        return
    if scheme == "http":
        raise UserError(
            f"{url} was not fetched: http:// is used only for a mirror you name yourself (with --from, "
            f"the download dialog or {ENV_SOURCE}); the official server is reached over https://."
        )
    raise UserError(
        f"{url} was not fetched: weights come only over https:// (or http:// from a mirror you name), "
        f"or from a folder given as a plain path such as /media/usb/weights; {scheme}:// is not used."
    )


def size_limit(item: WeightsEntry) -> int:
    """The most bytes read for `item`: its catalogue size and a margin."""
    return item.expected_bytes + MARGIN


def _too_big_text(item: WeightsEntry, src: str) -> str:
    return (
        f"{src} holds more than {item.file_name} can be (about {item.megabytes} MB), so it is not the "
        "official file; nothing of it was kept. Check the mirror or folder, or use the official server."
    )


def _opener(url: str) -> OpenerDirector:
    """urllib's opener with http(s) only, following redirects that keep to the allowed schemes."""
    allowed = {"https"} if urlsplit(url).scheme.lower() == "https" else {"http", "https"}

    class Redirects(HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            scheme = urlsplit(newurl).scheme.lower()
            if scheme not in allowed:
                raise UserError(
                    f"{urlsplit(url).netloc} sent the download on to {newurl}, which was not followed: "
                    "weights come only over https:// (or http:// from a mirror you name)"
                    + (", and never from https:// back to http://." if scheme == "http" else ".")
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = OpenerDirector()
    for handler in (
        ProxyHandler(),
        HTTPHandler(),
        HTTPSHandler(),
        HTTPDefaultErrorHandler(),
        Redirects(),
        HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


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
    if total > size_limit(item):
        raise UserError(_too_big_text(item, str(src)))
    done = 0
    with open(src, "rb") as inp, open(partial, "wb") as out:
        for block in iter(lambda: inp.read(CHUNK), b""):
            if stop is not None and stop():
                raise FetchCancelled()
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total)


def offline_help(item: WeightsEntry) -> str:
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
    if have > size_limit(item):  # not a part of this file: start again
        partial.unlink()
        have = 0
    headers = {"User-Agent": "cnnstudio"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = _opener(url).open(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code == 416 and have:  # the part we have is already the whole file
            return
        raise UserError(
            f"{host} answered '{exc.code} {exc.reason}' for {item.file_name}. " + offline_help(item)
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
        raise UserError(f"Could not reach {host} ({reason}). " + offline_help(item)) from exc
    with response:
        resumed = response.status == 206
        done = have if resumed else 0
        length = int(response.headers.get("Content-Length") or 0)
        total = done + length if length else 0
        limit = size_limit(item)
        if total > limit:
            raise UserError(_too_big_text(item, url))
        try:
            with open(partial, "ab" if resumed else "wb") as out:
                while True:
                    if stop is not None and stop():
                        raise FetchCancelled()
                    block = response.read(min(CHUNK, limit + 1 - done))
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    if done > limit:
                        out.close()
                        partial.unlink(missing_ok=True)
                        raise UserError(_too_big_text(item, url))
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
        "again and it continues from there. " + offline_help(item)
    )

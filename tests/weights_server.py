"""A local weights server for the tests (standard library, a thread) and a real weights file.

The file is a real mobilenet_v3_small state dict, named by its own SHA-256 prefix the way
torchvision's files are; `use_weights_file` patches the catalogue's expected name to it.
Routes: /good/NAME (with HTTP Range), /tampered/NAME, /half/NAME (the first answer stops halfway,
a Range request then gets the rest), /slow/NAME (small pieces with pauses, for cancelling),
/silent/NAME (never answers until the server closes), /padded/NAME (the file and then 8 MiB more,
with no length said), /toobig/NAME (says and sends the file and 8 MiB more), /to-ftp/NAME (a redirect
to ftp://).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
import torchvision

from cnnstudio.core.spec.backbones import BACKBONES

ARCH = "mobilenet_v3_small"


def weights_bytes(arch: str = ARCH, seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), buffer)
    return buffer.getvalue()


def use_weights_file(monkeypatch, tmp_path, arch: str = ARCH) -> tuple[bytes, str]:
    """A private torch cache and app folder, and the catalogue expecting a real file named by its
    SHA-256 prefix."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNSTUDIO_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.delenv("CNNSTUDIO_WEIGHTS_FROM", raising=False)
    data = weights_bytes(arch)
    name = f"{arch}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setitem(BACKBONES, arch, dataclasses.replace(BACKBONES[arch], weights_file=name))
    return data, name


class WeightsServer:
    def __init__(self, data: bytes):
        self.data = data
        self.release = threading.Event()
        self.requests: list[tuple[str, str | None]] = []
        self.sent = 0  # bytes sent after the file by /padded and /toobig
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                route = self.path.strip("/").split("/")[0]
                header = self.headers.get("Range")
                server.requests.append((route, header))
                if route == "silent":
                    server.release.wait(10)
                    return
                if route == "to-ftp":
                    self.send_response(302)
                    self.send_header("Location", "ftp://127.0.0.1/" + self.path.rsplit("/", 1)[-1])
                    self.end_headers()
                    return
                if route in ("padded", "toobig"):
                    extra = 8 << 20
                    self.send_response(200)
                    if route == "toobig":
                        self.send_header("Content-Length", str(len(server.data) + extra))
                    self.end_headers()
                    try:
                        self.wfile.write(server.data)
                        for _ in range(extra // 65536):
                            self.wfile.write(bytes(65536))
                            server.sent += 65536
                    except OSError:  # the client stopped reading
                        pass
                    self.close_connection = True
                    return
                body = server.data
                if route == "tampered":
                    body = body[:-1] + bytes([body[-1] ^ 1])
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", header or "")
                if match:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if route == "half" and not match:  # stop halfway through the first answer
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if route == "slow":
                    for at in range(start, len(body), 16384):
                        if server.release.is_set():
                            return
                        self.wfile.write(body[at : at + 16384])
                        time.sleep(0.02)
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def base(self, route: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{route}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

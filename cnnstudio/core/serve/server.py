"""Run the service: in the foreground (`cnnstudio serve`) or on a background thread (the app, tests).

The listening socket is bound here, before uvicorn starts, so that "port already in use" is a
message in words, port 0 gives a free port whose number is known at once, and the address printed
is the one bound.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import TYPE_CHECKING

from cnnstudio.core.errors import UserError
from cnnstudio.core.serve.options import ServeOptions

if TYPE_CHECKING:
    from cnnstudio.core.export import Predictor

BACKLOG = 2048  # uvicorn's default


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on (host, port); UserError in words when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UserError(f"{host} is not an address of this computer ({exc.strerror}).") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"Port {port} on {host} is already in use (another service, or CNN Studio serving "
                "already). Give another with --port."
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UserError(f"This user may not listen on port {port}: use a port above 1023.") from None
        raise UserError(f"Cannot listen on {host} port {port}: {exc.strerror or exc}.") from None
    sock.listen(BACKLOG)  # connections wait in the queue until uvicorn accepts them, none refused
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "localhost") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class Service:
    """A prediction service. `start()` serves on a background thread; `run()` in the foreground
    (until Ctrl-C); `stop()` ends either. `pictures_answered` counts pictures the model classified."""

    def __init__(self, predictor: Predictor, options: ServeOptions, *, log_requests: bool = False) -> None:
        import uvicorn

        from cnnstudio.core.serve.app import create_app

        self.predictor = predictor
        self.options = options
        self.app = create_app(predictor, options)
        self.sock = bind_socket(options.host, options.port)
        self.url = url_of(self.sock, options.host)
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="info" if log_requests else "warning",
            access_log=log_requests,
            log_config=None,  # the app's own logging is left as it is
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def pictures_answered(self) -> int:
        return self.app.state.batcher.counts()[0]

    @property
    def batches(self) -> int:
        return self.app.state.batcher.counts()[1]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.server.started

    def run(self) -> None:
        """Serve in this thread until stop() or Ctrl-C."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self, timeout: float = 30.0) -> Service:
        """Serve on a daemon thread; returns once it answers (RuntimeError if it did not start)."""

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._failure = exc

        self._thread = threading.Thread(target=target, name="cnnstudio-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the prediction service did not start: {self._failure or 'timed out'}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> Service:
        return self.start() if self._thread is None else self

    def __exit__(self, *_exc) -> None:
        self.stop()

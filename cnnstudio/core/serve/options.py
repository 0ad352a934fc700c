"""What a prediction service is asked to be: address, token, size limit, CORS, batching.

Checked once, here, where the options enter core (plain words for every refusal).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cnnstudio.core.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # one request's body: a phone photo is 3-10 MB
DEFAULT_MAX_BATCH = 32  # pictures run through the model together
DEFAULT_MAX_WAIT = 0.003  # seconds a first request waits for others to join its batch
MIN_TOKEN_LENGTH = 8


def is_loopback(host: str) -> bool:
    """True for addresses only this computer can reach (127.x.x.x, ::1, "localhost")."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0: any free port (tests, the app)
    token: str | None = None  # requests must carry "Authorization: Bearer TOKEN"
    max_bytes: int = DEFAULT_MAX_BYTES
    cors_origins: tuple[str, ...] = ()  # web pages at these origins may call the service
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait: float = DEFAULT_MAX_WAIT

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UserError(f"The port must be between 1 and 65535 (it is {self.port}).")
        if self.max_bytes < 1:
            raise UserError(f"The size limit must be at least 1 byte (it is {self.max_bytes}).")
        if self.max_batch < 1 or not 0 <= self.max_wait <= 1:
            raise ValueError(f"max_batch {self.max_batch} / max_wait {self.max_wait} out of range")
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise UserError(
                f"The token must be at least {MIN_TOKEN_LENGTH} characters long: other computers could "
                "guess a short one."
            )
        if not is_loopback(self.host) and not self.token:
            raise UserError(
                f"Serving on {self.host} lets other computers send pictures to this model. "
                "Give --token TOKEN (a secret they must send as 'Authorization: Bearer TOKEN'), "
                f"or keep the default address {DEFAULT_HOST} (this computer only)."
            )
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise UserError(
                    f"A CORS origin is a web address such as https://example.org, not {origin!r}."
                )

    @property
    def public(self) -> bool:
        return not is_loopback(self.host)


def exposure_lines(options: ServeOptions, url: str) -> list[str]:
    """What the service makes reachable, and to whom, in words (printed when it starts)."""
    who = (
        "this computer only"
        if not options.public
        else "every computer that can reach this one on the network"
        + (" (all its addresses)" if options.host in ("0.0.0.0", "::") else "")
    )
    lines = [
        f"Serving at {url} to {who}.",
        "  POST /predict  a picture (its bytes as the body), or several as multipart form files",
        "  GET  /model    classes, input size, calibration",
        "  GET  /health   whether it is up",
        "  GET  /docs     the interactive documentation",
        f"Requests over {options.max_bytes:,} bytes are refused.",
    ]
    if options.token:
        lines.append("Every request must carry the header 'Authorization: Bearer <your token>'.")
    if options.cors_origins:
        lines.append(f"Web pages from {', '.join(options.cors_origins)} may call it (CORS).")
    return lines

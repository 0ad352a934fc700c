"""The HTTP application (FastAPI): /health, /model, /predict, /docs, and errors as JSON in words.

POST /predict takes one picture as the request body (any content type but multipart: curl's
--data-binary sends form-urlencoded) or several as multipart/form-data files. Each picture is
decoded by core.dataset.decode_image with the model's preprocessing (in worker threads: Pillow
releases the GIL), batched with other requests' pictures (batcher.py) and labelled by the
Predictor, so one answer is exactly an item of `cnnstudio predict --json`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from cnnstudio.core.dataset.decode import decode_image
from cnnstudio.core.dataset.problems import ImageProblem, unexpected_decode_reason
from cnnstudio.core.export import Predictor
from cnnstudio.core.serve.batcher import Batcher
from cnnstudio.core.serve.options import ServeOptions

MAX_FILES = 1000  # pictures in one multipart request
ADDRESSES = "GET /health, GET /model, POST /predict and GET /docs"

PICTURE_BODY = {"type": "string", "format": "binary"}
PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One picture as the body (image/jpeg, image/png, ...), or several pictures as "
        "multipart/form-data files (any field name).",
        "content": {
            "image/*": {"schema": PICTURE_BODY},
            "application/octet-stream": {"schema": PICTURE_BODY},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": PICTURE_BODY}},
                }
            },
        },
    },
    "responses": {
        "200": {
            "description": "One picture: {path, label, confidence, top, unknown, unknown_score} "
            "(the same item as `cnnstudio predict --json`). Several: {predictions: [...], problems: "
            "[{path, reason}]}."
        },
        "400": {"description": "Not a usable picture (the reason in words), or a decompression bomb."},
        "401": {"description": "A token is required and was missing or wrong."},
        "413": {"description": "The request is larger than the service's limit."},
    },
}


class _Refused(Exception):
    """Answer with this status and message (JSON {"error": message})."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class _Guard:
    """Pure ASGI middleware: the token (401) and a declared size over the limit (413) are refused
    before any route runs or any of the body is read."""

    def __init__(self, app, options: ServeOptions) -> None:
        self.app = app
        self.options = options
        self.expected = f"Bearer {options.token}".encode() if options.token else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None and not secrets.compare_digest(
            headers.get(b"authorization", b""), self.expected
        ):
            response = _error(
                401,
                "This service needs a token: send the header 'Authorization: Bearer TOKEN' with the "
                "token it was started with.",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.options.max_bytes:
            await _error(413, _too_large_message(self.options.max_bytes, int(length)))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _too_large_message(limit: int, size: int | None = None) -> str:
    said = f" ({size:,} bytes)" if size is not None else ""
    return (
        f"The request is too large{said}: this service accepts up to {limit:,} bytes. Send smaller "
        "pictures, or fewer at a time, or start it with a larger --max-bytes."
    )


def create_app(predictor: Predictor, options: ServeOptions) -> FastAPI:
    batcher = Batcher(predictor, max_batch=options.max_batch, max_wait=options.max_wait)
    prep = predictor.loaded.preprocessing

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="CNN Studio prediction service",
        description=f"Classifies pictures with {predictor.loaded.source}, as `cnnstudio predict` does.",
        lifespan=lifespan,
    )
    app.state.batcher = batcher

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"There is nothing at {request.url.path}. This service answers {ADDRESSES}."
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.url.path} does not accept {request.method}; it accepts {allowed or 'other methods'}."
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, f"The request is not valid: {exc.errors()}")

    @app.exception_handler(Exception)
    async def failed(_request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback; the caller gets JSON, and the service goes on.
        return _error(500, f"The service failed on this request: {str(exc) or type(exc).__name__}")

    @app.exception_handler(_Refused)
    async def refused(_request: Request, exc: _Refused) -> JSONResponse:
        return _error(exc.status, exc.message, **exc.extra)

    @app.get("/health", summary="Whether the service is up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model", summary="The model: classes, input size, calibration")
    async def model() -> dict[str, Any]:
        loaded = predictor.loaded
        calibration = loaded.calibration
        return {
            "source": loaded.source,
            "run": loaded.run_dir.name if loaded.run_dir is not None else None,
            "classes": list(predictor.class_names),
            "input": {
                "height": prep.height,
                "width": prep.width,
                "channels": prep.num_channels,
                "fit": prep.fit,
            },
            "calibrated": bool(calibration is not None and calibration.fitted),
            "temperature": float(calibration.temperature) if calibration is not None else None,
            "unknown_threshold": predictor.unknown_threshold if predictor.has_unknown else None,
            "confidence_threshold": predictor.threshold,
            "max_bytes": options.max_bytes,
        }

    @app.post(
        "/predict", summary="Classify one picture, or several (multipart)", openapi_extra=PREDICT_OPENAPI
    )
    async def predict(request: Request) -> Any:
        body = await _read_body(request, options.max_bytes)
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return await _predict_files(request, body)
        if not body:
            raise _Refused(400, "The request has no picture: send the picture's bytes as the body.")
        picture = await run_in_threadpool(_decode, bytes(body))
        if isinstance(picture, str):
            raise _Refused(400, f"This is not a usable picture: {picture}.")
        [(probs, score)] = await batcher.outputs([picture])
        item = predictor.label("", probs, score).to_dict()
        item["path"] = request.headers.get("x-filename")
        return item

    async def _predict_files(request: Request, body: bytearray) -> dict[str, Any]:
        names, contents = [], []
        form = await _parse_form(request, body)
        try:
            for field, value in form.multi_items():
                if isinstance(value, UploadFile):
                    names.append(value.filename or field)
                    contents.append(await value.read())
        finally:
            await form.close()  # big files were spooled to temporary files
        if not names:
            raise _Refused(400, "The form has no files: send each picture as a file field.")
        decoded = await asyncio.gather(*(run_in_threadpool(_decode, data) for data in contents))
        problems = [
            {"path": name, "reason": item}
            for name, item in zip(names, decoded, strict=True)
            if isinstance(item, str)
        ]
        good = [(name, item) for name, item in zip(names, decoded, strict=True) if not isinstance(item, str)]
        if not good:
            raise _Refused(400, "None of the files is a usable picture.", problems=problems)
        rows = await batcher.outputs([picture for _, picture in good])
        predictions = [
            predictor.label(name, probs, score).to_dict()
            for (name, _), (probs, score) in zip(good, rows, strict=True)
        ]
        return {"predictions": predictions, "problems": problems}

    async def _parse_form(request: Request, body: bytearray):
        async def stream() -> AsyncIterator[bytes]:
            yield bytes(body)

        parser = MultiPartParser(
            request.headers, stream(), max_files=MAX_FILES, max_part_size=options.max_bytes
        )
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise _Refused(400, f"The multipart form cannot be read: {exc.message}") from None

    def _decode(data: bytes):
        try:
            return decode_image(data, prep.height, prep.width, prep.num_channels, prep.fit)
        except ImageProblem as exc:
            return exc.reason
        except Exception as exc:  # noqa: BLE001 - a bad picture must never take the service down
            return unexpected_decode_reason(exc)

    app.add_middleware(_Guard, options=options)
    if options.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Filename"],
        )
    return app


async def _read_body(request: Request, limit: int) -> bytearray:
    """The body, counted as it streams in: a sender that declared no size (chunked) or a false one
    is stopped at the limit, not read to the end."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _Refused(413, _too_large_message(limit))
    except ClientDisconnect:
        raise _Refused(400, "The request ended before its body was complete.") from None
    return body

"""`cnnstudio serve MODEL`: a local web service that classifies pictures other programs send it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cnnstudio.cli.args import add_threshold_arguments, positive_int

TOKEN_VARIABLE = "CNNSTUDIO_SERVE_TOKEN"
EXAMPLES = """examples:
  cnnstudio serve flowers.cnnmodel
  curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8765/predict
  curl -F files=@a.jpg -F files=@b.png http://127.0.0.1:8765/predict
  cnnstudio serve PROJECT --run RUN --host 0.0.0.0 --token SECRET   # other computers, with a token
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from cnnstudio.core.serve.options import DEFAULT_HOST, DEFAULT_MAX_BYTES, DEFAULT_PORT

    p = sub.add_parser(
        "serve",
        help="answer other programs' pictures over HTTP (a local prediction service)",
        description=(
            "Serve a model as a web service: POST a picture to /predict and get the same JSON as one "
            "item of `cnnstudio predict --json` (same preprocessing, calibration and unknown flag). "
            "GET /model describes the model, GET /health says it is up, /docs is the interactive "
            "documentation. Only this computer can reach it unless --host says otherwise, which "
            "needs --token."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", type=Path, metavar="MODEL", help="a .cnnmodel file, or a project folder (its newest run)"
    )
    p.add_argument("--run", help="with a project: the run's id (default: the newest run)")
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}: this computer only; 0.0.0.0: every "
        "network, needs --token)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT})")
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE) or None,
        help="a secret every request must send as 'Authorization: Bearer TOKEN' (required with --host; "
        f"default: the environment variable {TOKEN_VARIABLE}, which other users cannot see in the "
        "process list)",
    )
    p.add_argument(
        "--max-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"refuse requests larger than N bytes with 413 (default {DEFAULT_MAX_BYTES:,})",
    )
    p.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from ORIGIN (https://example.org) call the service; repeatable (default: none)",
    )
    add_threshold_arguments(p)
    p.add_argument("--log-requests", action="store_true", help="print a line for every request")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.progress import print_step
    from cnnstudio.core.export import Predictor
    from cnnstudio.core.models import load_model
    from cnnstudio.core.serve import ServeOptions, exposure_lines
    from cnnstudio.core.serve.examples import curl_example
    from cnnstudio.core.serve.server import Service

    options = ServeOptions(
        host=args.host,
        port=args.port,
        token=args.token,
        max_bytes=args.max_bytes,
        cors_origins=tuple(args.cors),
    )
    loaded = load_model(args.model, run=args.run)
    print_step(f"Model: {loaded.source} ({len(loaded.class_names)} classes)")
    predictor = Predictor(loaded, threshold=args.threshold, unknown_threshold=args.unknown_threshold)
    service = Service(predictor, options, log_requests=args.log_requests)
    for line in exposure_lines(options, service.url):
        print(line, flush=True)
    token_shown = "TOKEN" if options.token else None  # the secret itself is never printed
    print("Try it:", curl_example(service.url, token_shown).splitlines()[1], flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        service.run()  # until Ctrl-C
    finally:
        print(f"Stopped after answering {service.pictures_answered:,} pictures.", flush=True)
    return 0

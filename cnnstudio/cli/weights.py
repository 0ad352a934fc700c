"""`cnnstudio weights list|get|import|forget`: the backbones' pre-trained weights on this computer.

`get` is the only command that downloads, and only from the source it names. `import` keeps a file
in the app's own folder with its provenance; `forget` removes it again.
"""

from __future__ import annotations

import argparse
import sys

from cnnstudio.cli.args import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list, download or import the pre-trained networks' weights")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("list", help="every pre-trained network: its weights file, here or not")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=run_list)
    get = actions.add_parser("get", help="download (or copy) torchvision's official weights file")
    get.add_argument("name", help="resnet18, mobilenet-v3-small, efficientnet-b0, or all")
    get.add_argument(
        "--from",
        dest="source",
        metavar="URL_OR_FOLDER",
        help="a mirror URL base or a folder holding the same file names "
        "(default: $CNNSTUDIO_WEIGHTS_FROM, else download.pytorch.org)",
    )
    get.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server")
    get.set_defaults(func=run_get)
    imp = actions.add_parser("import", help="use a weights file you already have (.pth or .safetensors)")
    imp.add_argument("file")
    imp.add_argument("--as", dest="name", help="the network it belongs to (found from the file otherwise)")
    imp.set_defaults(func=run_import)
    forget = actions.add_parser(
        "forget", help="stop using an imported weights file (and delete the app's copy)"
    )
    forget.add_argument("name", help="resnet18, mobilenet-v3-small or efficientnet-b0")
    forget.set_defaults(func=run_forget)


def run_list(args) -> int:
    from cnnstudio.core.weights import list_weights

    rows = list_weights()
    if args.json:
        keys = ("name", "present", "path", "bytes", "source", "origin", "official", "imported", "note")
        print_json({"weights": [{k: row[k] for k in keys} for row in rows]})
        return 0
    for row in rows:
        state = "here" if row["present"] else "not here"
        print(f"{row['name']:<20} {row['bytes'] / 1e6:5.1f} MB  {state:<9} {row['path']}")
        print(f"{'':<20} {row['origin']}")
        if row["imported"]:
            done = row["imported"]
            print(f"{'':<20} (from {done['from']} on {done['date'][:10]}, SHA-256 {done['sha256'][:16]}…)")
        if row["note"]:
            print(f"{'':<20} {row['note']}")
        if not row["official"]:
            print(f"{'':<20} official file from {row['source']}")
    return 0


def run_get(args) -> int:
    from cnnstudio.cli.progress import count_progress, print_step
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.weights import catalogue, entry, fetch
    from cnnstudio.core.weights.entries import source_of

    names = [item.name for item in catalogue()] if args.name == "all" else [entry(args.name).name]
    failed = 0
    for name in names:
        item = entry(name)
        if item.official is not None:
            print_step(f"{name}: already here ({item.official})")
            continue
        print_step(
            f"{name}: {item.file_name}, about {item.megabytes} MB, from {source_of(item, args.source)}"
        )
        bar = count_progress("kB")
        shown = None if bar is None else _in_kb(bar)
        try:
            path = fetch(
                name,
                args.source,
                progress=shown,
                timeout=args.timeout,
            )
        except UserError as exc:
            if len(names) == 1:
                raise
            print(f"cnnstudio weights: {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: checked (SHA-256 starts with {item.sha256_prefix}) and saved to {path}")
    return 2 if failed else 0


def _in_kb(bar):
    return lambda done, total: bar(done // 1000, max(total, done) // 1000)


def run_import(args) -> int:
    from cnnstudio.core.weights import import_weights
    from cnnstudio.core.weights.store import imported

    item, path, official = import_weights(args.file, args.name)
    record = imported(item.arch)
    kind = "byte for byte the official file" if official else "checked layer by layer, not the official file"
    print(
        f"{item.name}: {record.describe() if record else 'imported'} ({kind}; SHA-256 "
        f"{record.source_sha256[:16] if record else '?'}…), kept in {path}. The {item.name} template "
        f"uses it from now on; `cnnstudio weights forget {item.name}` undoes that."
    )
    return 0


def run_forget(args) -> int:
    from cnnstudio.core.weights import entry
    from cnnstudio.core.weights.store import forget_import

    item = entry(args.name)
    if not forget_import(item.arch):
        print(f"{item.name}: no imported weights to forget.")
        return 0
    print(f"{item.name}: the imported weights were removed. Its weights now: {item.origin}.")
    return 0

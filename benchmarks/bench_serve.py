"""The prediction service under load: 8 concurrent clients on loopback against `cnnstudio predict`.

    python benchmarks/bench_serve.py             # 800 pictures (BENCH_FULL=1: 4,000)
    python benchmarks/bench_serve.py --n 4000 --clients 8

The baseline is `cnnstudio predict` on a folder of the same 640x480 JPEGs: the Predictor's own
predict on the folder (decoding threads plus batches), in this process. The service
(core.serve.Service, uvicorn on 127.0.0.1) runs in this process too, and `--clients` threads each
send one picture per request (its file's bytes as the body, a kept-alive connection), as many
programs calling it at once would; the service batches what arrives together. Both take turns on
slices of the same files (in the disk cache). Target: the service reaches at least 0.8x the
baseline's pictures per second. Then single-request latency: one client, one request at a time,
median and p99. Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# isort: off
import cnnstudio  # noqa: F401 - sets OMP_WAIT_POLICY before torch is imported, as in the app
# isort: on

import numpy as np
from bench_predict import write_jpegs
from targets import Targets, size

from cnnstudio.core.export import LoadedModel, Predictor
from cnnstudio.core.serve import ServeOptions
from cnnstudio.core.serve.server import Service
from cnnstudio.core.spec import build_model, template

TARGET = 0.8


def predict_folder(predictor: Predictor, folder: Path, count: int) -> float:
    start = time.perf_counter()
    result = predictor.predict([folder])
    elapsed = time.perf_counter() - start
    assert len(result.predictions) == count and not result.problems
    return elapsed


def serve_pictures(url: str, pictures: list[bytes], clients: int) -> float:
    """Seconds for `clients` threads to have every picture answered, one picture per request."""
    port = int(url.rsplit(":", 1)[1])
    shares = [pictures[i::clients] for i in range(clients)]

    def client(share: list[bytes]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for data in share:
            conn.request("POST", "/predict", body=data, headers={"Content-Type": "image/jpeg"})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body
        conn.close()
        return len(share)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        assert sum(pool.map(client, shares)) == len(pictures)
    return time.perf_counter() - start


def latencies(url: str, pictures: list[bytes]) -> np.ndarray:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for data in pictures:
        start = time.perf_counter()
        conn.request("POST", "/predict", body=data, headers={"Content-Type": "image/jpeg"})
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - start)
        assert response.status == 200
    conn.close()
    return np.array(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=size(800, 4_000), help="number of pictures")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--template", default="seed", help="model design (default: seed, 64x64)")
    parser.add_argument("--rounds", type=int, default=4, help="turns each way takes (default 4)")
    parser.add_argument("--latency-n", type=int, default=size(200, 1_000), help="single requests timed")
    args = parser.parse_args()

    spec = template(args.template)
    prep = spec.preprocessing()
    loaded = LoadedModel(
        build_model(spec, 10).eval(), prep, [f"class_{i}" for i in range(10)], spec.to_dict(), "benchmark"
    )
    predictor = Predictor(loaded)
    rounds = max(1, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"Writing {args.n:,} 640x480 JPEGs...", flush=True)
        parts = [root / f"part_{r}" for r in range(rounds)]
        for r, part in enumerate(parts):
            part.mkdir()
            write_jpegs(part, len(range(r, args.n, rounds)), seed=r)
        files = {part: sorted(part.glob("*.jpg")) for part in parts}
        data = {part: [p.read_bytes() for p in paths] for part, paths in files.items()}

        with Service(Predictor(loaded), ServeOptions(port=0)) as service:
            predict_folder(predictor, parts[0], len(files[parts[0]]))  # warm both up
            serve_pictures(service.url, data[parts[0]][:64], args.clients)
            seconds = {"predict": 0.0, "serve": 0.0}
            answered_before, batches_before = service.pictures_answered, service.batches
            # Turns on slices, so that a change in the machine's load falls on both alike.
            for part in parts:
                seconds["predict"] += predict_folder(predictor, part, len(files[part]))
                seconds["serve"] += serve_pictures(service.url, data[part], args.clients)
            batches = service.batches - batches_before
            answered = service.pictures_answered - answered_before
            single = latencies(service.url, [d for part in parts for d in data[part]][: args.latency_n])

    predict_rate, serve_rate = args.n / seconds["predict"], args.n / seconds["serve"]
    print(f"model: {args.template} ({prep.height}x{prep.width}), {args.n:,} pictures of 640x480")
    served = f"service, {args.clients} clients, one picture per request"
    print(f"{'cnnstudio predict on the folder (the Predictor)':<50}: {predict_rate:8.1f} pictures/s")
    print(
        f"{served:<50}: {serve_rate:8.1f} pictures/s "
        f"({answered / max(1, batches):.1f} pictures per batch on average)"
    )
    print(
        f"single-request latency ({len(single)} requests, one at a time): median "
        f"{np.median(single) * 1000:.1f} ms, p99 {np.percentile(single, 99) * 1000:.1f} ms"
    )
    print("Note: measured in one process on a machine whose cores may be shared; numbers are noisy.")
    targets = Targets()
    targets.check(f"service ({args.clients} clients) vs cnnstudio predict", serve_rate / predict_rate, TARGET)
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())

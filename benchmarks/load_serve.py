"""fer.serve under load: concurrent clients sending real photos and bad uploads to the real
server (waitress, on 127.0.0.1 only) for a fixed time.

    python benchmarks/load_serve.py [--clients 8] [--seconds 60] [--single-seconds 20] [--run RUN]

First one client alone (the latency of a request that never waits), then ``--clients``
clients at once, each sending one request after another over a kept-alive connection
(http.client): a mix of photos with one face, six faces and none, and bad uploads
(empty, not an image, truncated, a PNG declaring 10 gigapixels).  Prints a markdown
table: requests/s, p50/p95/p99 latency, answers by status, dropped connections, and
the server's resident memory (VmRSS) at the start, after 1,000 and after 2,000
requests (the load run goes on past ``--seconds`` until 2,000 requests are answered).
The models run one request at a time (a lock, fer.serve.predictor), so the
p95 under load over the single client's is what queueing costs.

Without ``--run`` the server gets the small untrained CNN of the tests: the work per
request (face detection, one small forward pass a face) is then mostly detection.  A
measurement, not a test; tests/test_load_serve.py runs a short one and asserts no 5xx,
no dropped connection and no growth of memory, never timings.
"""
from __future__ import annotations

import argparse
import http.client
import io
import os
import queue
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

BOUNDARY = "fer-load-boundary"
SMALL_CNN = {"widths": [8, 16], "conv_dropout": [0.0, 0.0], "dense": [32], "dense_dropout": 0.0}
MIX = {"one face": 3, "six faces": 3, "no face": 2, "empty": 1, "not an image": 1, "truncated": 1,
       "10 gigapixels": 1}
"""Relative frequency of each kind of upload."""


def make_run(folder: Path) -> Path:
    """A run folder holding the tests' small CNN, untrained (seed 0)."""
    import minigrad
    from fer.models.networks import architecture, build_model
    from fer.training.runs import write_json
    from minigrad.checkpoint import save_checkpoint

    minigrad.manual_seed(0)
    folder.mkdir(parents=True)
    save_checkpoint(folder / "best.npz", build_model("cnn", **SMALL_CNN), {"architecture": architecture("cnn", **SMALL_CNN)})
    write_json(folder / "config.json", {"settings": {"data": "synthetic", "synthetic_size": 112, "val_fraction": 0.1,
                                                     "skip_bad_rows": False}})
    return folder


def uploads() -> dict[str, tuple[str, bytes]]:
    """{kind: (file name, bytes)} of every kind in MIX, from the suite's real photos."""
    from PIL import Image

    from face_photos import DATA, group_photo
    from fuzz_inputs import png_declaring

    group = io.BytesIO()
    Image.fromarray(group_photo()[0]).save(group, format="JPEG", quality=90)
    one = (DATA / "astronaut.jpg").read_bytes()
    return {"one face": ("astronaut.jpg", one), "six faces": ("group.jpg", group.getvalue()),
            "no face": ("coffee.jpg", (DATA / "coffee.jpg").read_bytes()), "empty": ("empty.jpg", b""),
            "not an image": ("notes.png", b"name,emotion\nalice,happy\n" * 20),
            "truncated": ("cut.jpg", one[:len(one) // 3]),
            "10 gigapixels": ("huge.png", png_declaring(100_000, 100_000))}


def multipart(name: str, data: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def start_server(run: Path, threads: int, log: Path):
    """(process, host, port) of ``python -m fer.serve RUN --port 0`` on 127.0.0.1, once it serves."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "fer.serve", str(run), "--host", "127.0.0.1", "--port", "0",
                                    "--threads", str(threads)], env=env, stdout=subprocess.PIPE, stderr=errors,
                                   text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", lines.get(timeout=300))
    except queue.Empty:
        found = None
    if found is None:
        process.kill()
        raise RuntimeError(f"fer.serve did not start: {log.read_text()[-2000:]}")
    return process, "127.0.0.1", int(found.group(1))


def resident_mib(pid: int) -> float:
    """The process's resident memory (VmRSS of /proc/PID/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Load:
    """What one load run saw."""
    clients: int
    seconds: float = 0.0
    latencies: list = field(default_factory=list)   # seconds, every answered request
    statuses: Counter = field(default_factory=Counter)
    dropped: int = 0                                 # connections that failed or closed mid-request
    memory: dict = field(default_factory=dict)       # {requests answered: server VmRSS MiB}

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float) -> float:
        """Latency percentile ``p`` in milliseconds."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def hammer(host: str, port: int, pid: int, clients: int, seconds: float, marks=(1000, 2000), seed: int = 0,
           min_requests: int = 0) -> Load:
    """``clients`` threads, each sending requests of MIX one after another for ``seconds``
    (and until ``min_requests`` were answered in all, at most 10 times ``seconds``); the
    server's memory is read at the start and when the count of answers reaches each mark."""
    bodies = {kind: multipart(*upload) for kind, upload in uploads().items()}
    kinds, weights = list(MIX), list(MIX.values())
    load = Load(clients, memory={0: resident_mib(pid)})
    lock = threading.Lock()
    started = time.perf_counter()

    def done():
        elapsed = time.perf_counter() - started
        return elapsed > 10 * seconds or (elapsed > seconds and load.requests >= min_requests)

    def client(number):
        rng = random.Random(seed * 1000 + number)
        connection = http.client.HTTPConnection(host, port, timeout=120)
        while not done():
            body = bodies[rng.choices(kinds, weights)[0]]
            tic = time.perf_counter()
            try:
                connection.request("POST", "/api/predict", body,
                                   {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    load.dropped += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=120)
                continue
            latency = time.perf_counter() - tic
            with lock:
                load.latencies.append(latency)
                load.statuses[response.status] += 1
                if load.requests in marks:
                    load.memory[load.requests] = resident_mib(pid)
        connection.close()

    workers = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    load.seconds = time.perf_counter() - started
    return load


def table(loads: list[Load], marks) -> str:
    """The markdown table of the runs."""
    rows = ["| clients | requests | requests/s | p50 ms | p95 ms | p99 ms | answers by status | dropped | "
            + " | ".join(f"VmRSS MiB after {m:,}" if m else "VmRSS MiB at start" for m in (0, *marks)) + " |",
            "|" + "---|" * (8 + 1 + len(marks))]
    for load in loads:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(load.statuses.items()))
        memory = " | ".join(f"{load.memory[m]:.0f}" if m in load.memory else "-" for m in (0, *marks))
        rows.append(f"| {load.clients} | {load.requests:,} | {load.requests / load.seconds:.1f} | "
                    f"{load.percentile(50):.0f} | {load.percentile(95):.0f} | {load.percentile(99):.0f} | "
                    f"{statuses} | {load.dropped} | {memory} |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60, help="length of the load run (default 60)")
    parser.add_argument("--single-seconds", type=float, default=20, help="length of the one-client run (default 20)")
    parser.add_argument("--run", type=Path, help="a trained run folder (default: the tests' small untrained CNN)")
    parser.add_argument("--threads", type=int, default=1, help="the server's numba and BLAS threads (default 1)")
    args = parser.parse_args(argv)
    marks = (1000, 2000)
    with tempfile.TemporaryDirectory() as folder:
        run = args.run or make_run(Path(folder) / "run")
        process, host, port = start_server(run, args.threads, Path(folder) / "server.log")
        try:
            single = hammer(host, port, process.pid, 1, args.single_seconds, marks=())
            single.memory = {}
            loaded = hammer(host, port, process.pid, args.clients, args.seconds, marks=marks, seed=1,
                            min_requests=max(marks))
        finally:
            process.terminate()
            process.wait(timeout=60)
    print(f"fer.serve on 127.0.0.1, {'untrained small CNN' if args.run is None else args.run}, "
          f"--threads {args.threads}, {os.cpu_count()} CPUs (the clients share them); "
          f"{single.seconds:.0f} s alone, then {loaded.seconds:.0f} s with {args.clients} clients; mix {dict(MIX)}\n")
    print(table([single, loaded], marks))
    ratio = loaded.percentile(95) / single.percentile(95)
    growth = (loaded.memory[2000] / loaded.memory[1000] - 1) if 2000 in loaded.memory else None
    print(f"\np95 with {args.clients} clients / p95 alone: {ratio:.1f}x"
          + (f"; memory from 1,000 to 2,000 requests: {growth:+.1%}" if growth is not None else
             "; fewer than 2,000 requests: no memory comparison"))


if __name__ == "__main__":
    main()

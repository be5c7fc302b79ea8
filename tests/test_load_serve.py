"""A short run of benchmarks/load_serve.py against the real server (waitress on 127.0.0.1):
2 clients for 10 seconds (and at least 200 requests) of real photos and bad uploads.
Every answer is a 200 or a 4xx, no connection drops, and the server's resident memory
does not grow from the 100th to the 200th request (after a warm-up: the first requests
load the face detector and fill the allocator's pools).  Timings are the benchmark's to
report, never asserted here.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import load_serve  # noqa: E402

GROWTH = 0.10
"""Most the server's memory may grow from the 100th to the 200th request (a leak of one
640x480 photo a request would be 90 MB, a third of the server)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    run = load_serve.make_run(folder / "run")
    process, host, port = load_serve.start_server(run, 1, folder / "server.log")
    yield process, host, port
    process.terminate()
    process.wait(timeout=60)


def test_a_short_load_gets_no_5xx_drops_no_connection_and_does_not_grow(server):
    process, host, port = server
    load_serve.hammer(host, port, process.pid, 2, 2, marks=(), min_requests=50)   # warm-up
    load = load_serve.hammer(host, port, process.pid, 2, 10, marks=(100, 200), min_requests=200, seed=1)
    assert load.dropped == 0
    assert set(load.statuses) == {200, 400, 413, 415}, load.statuses   # every kind of the mix answered as it should
    assert load.memory[200] <= (1 + GROWTH) * load.memory[100], load.memory
    assert process.poll() is None   # still serving

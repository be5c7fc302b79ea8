"""The benchmark suite: minigrad against PyTorch CPU and NumPy's matmul peak, in one run.

    python benchmarks/suite.py [--threads 2] [--quick] [--no-torch] [--out benchmarks/RESULTS.md]

Every measurement runs in its own fresh Python process (``--case NAME``), so that
peak memory (the process's high-water mark minus what it held before the measured
work) and compile times are not mixed up between cases.  Timings are the median of
the timed repeats after warm-up steps.  The parent prints one table and writes it,
with the machine, the versions and the command, to ``--out``.

Cases:

* ``matmul``: NumPy float32 (2048 x 2048) @ (2048 x 2048), the machine's GEMM peak.
* ``train-<model>-<batch>-<engine>``: one training step (forward, cross-entropy,
  backward, Adam) of the seed CNN or DNN; engine minigrad, torch, torch-cl
  (channels-last).  The CNN step costs about 0.80 GFLOP per image.
* ``infer-cnn-256-<engine>`` and ``latency-cnn-1-<engine>``: eval-mode forward.
* ``op-<name>-<engine>``: one op's forward + backward at the seed CNN's shapes
  (``conv2``-``conv4`` by Winograd, ``conv2_im2col`` etc. by im2col).
* ``fastop-<name>-<engine>``: the ops of the efficient networks (depthwise and 1x1
  convolutions, overlapping max-pool, fused batch norm + ReLU, average pooling) at the
  ``xception`` preset's shapes, each beside the least time its memory traffic allows;
  minigrad's in the layout the network's blocks run them in (channel-major, see
  ``minigrad/ops/layout.py``, except the stem and the average pool).
* ``train-fast-64-<engine>``: a training step of the ``fast`` preset's network (the seed CNN's
  layers) on 40x40 crops; ``train-xception-64-<engine>``: the ``xception`` preset's on 44x44 crops.
* the seed CNN's batch-128 step again, in a process that imports NumPy before
  minigrad and in one that imports minigrad first: the two must match.
* ``stream``: a parallel memory copy, the bandwidth that memory-bound kernels can reach.
* ``compile-cold`` / ``compile-warm``: time to the end of the first training step
  of a small CNN, DNN and mini-Xception touching every kernel, with an empty numba cache and then with
  the cache that the cold run filled.  ``import``: ``import minigrad``.

A measurement, not a test: nothing here asserts a timing.
"""
import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not
CNN_GFLOP_PER_IMAGE = 0.80  # forward + backward of the seed CNN (3x the forward's multiply-adds x 2)
OPS = ["conv1", "conv2", "conv3", "conv4", "pool1", "bn1", "dense1", "loss"]


# --------------------------------------------------------------------------- child side
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(step, warmup, repeats):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


PRESET_NETWORKS = ("fast", "xception")
"""The presets whose networks are measured beside the seed CNN and DNN (on their presets' crops)."""


def minigrad_model(name):
    """The seed CNN ("cnn"), the seed DNN ("dnn") or a preset's network ("fast", "xception")."""
    import minigrad
    from fer.models.networks import build_model, seed_cnn, seed_dnn
    from fer.models.presets import PRESETS

    minigrad.manual_seed(0)
    if name in PRESET_NETWORKS:
        preset = PRESETS[name]
        return build_model(preset["model"], **preset["model_config"])
    return {"cnn": seed_cnn, "dnn": seed_dnn}[name]()


def torch_twin(model_name, model):
    """The same network in PyTorch, with our weights copied in (same names, same layouts)."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from torch_twins import torch_sequential, torch_xception

    if model_name != "xception":
        return torch_sequential(model)
    from fer.models.presets import PRESETS

    twin = torch_xception(**PRESETS["xception"]["model_config"])
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, strict=False)
    return twin


def batch(n, seed=0, size=48):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.random((n, 1, size, size), dtype=np.float32), rng.integers(0, 7, n)


def step_function(model_name, n, engine, train):
    """A closure running one step (train: forward+backward+Adam; else eval forward).  A preset's
    network trains on crops, as its preset does."""
    from fer.models.presets import PRESETS

    model = minigrad_model(model_name)
    x, y = batch(n, size=PRESETS[model_name]["crop"] if train and model_name in PRESET_NETWORKS else 48)
    # The two libraries share the names used here (no_grad, optim.Adam, F.cross_entropy).
    if engine == "minigrad":
        import minigrad as lib
        import minigrad.functional as F
        import minigrad.nn  # noqa: F401  (lib.nn)
        import minigrad.optim as optim

        net, xt, yt = lib.nn.fuse(model), lib.Tensor(x), y   # the fast path fer trains and evaluates
    else:
        import torch as lib
        import torch.nn.functional as F
        import torch.optim as optim

        net, xt, yt = torch_twin(model_name, model), lib.from_numpy(x), lib.from_numpy(y)
        if engine == "torch-cl":
            net = net.to(memory_format=lib.channels_last)
            xt = xt.contiguous(memory_format=lib.channels_last)
    if not train:
        net.eval()

        def infer():
            with lib.no_grad():
                net(xt)
        return infer
    optimizer = optim.Adam(net.parameters(), lr=1e-3)

    def train_step():
        loss = F.cross_entropy(net(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return train_step


def op_function(name, engine, n=128):
    """One op's forward + backward at a seed-CNN shape; ``conv2_im2col`` forces the
    general convolution where ``conv2`` lets conv2d choose (Winograd for 3x3)."""
    import numpy as np

    name, _, algorithm = name.partition("_")
    rng = np.random.default_rng(0)
    convs = {"conv1": (1, 48, 64, 5), "conv2": (64, 24, 128, 3), "conv3": (128, 12, 256, 3),
             "conv4": (256, 6, 512, 3)}
    if name in convs:
        c, h, o, k = convs[name]
        arrays = [rng.standard_normal((n, c, h, h), dtype=np.float32),
                  rng.standard_normal((o, c, k, k), dtype=np.float32) * 0.05,
                  np.zeros(o, np.float32)]
    elif name == "pool1" or name == "bn1":
        arrays = [rng.standard_normal((n, 64, 48, 48), dtype=np.float32)]
        if name == "bn1":
            arrays += [np.ones(64, np.float32), np.zeros(64, np.float32)]
    elif name == "dense1":
        arrays = [rng.standard_normal((n, 4608), dtype=np.float32),
                  rng.standard_normal((512, 4608), dtype=np.float32) * 0.01, np.zeros(512, np.float32)]
    else:  # loss
        arrays = [rng.standard_normal((n, 7), dtype=np.float32)]
    labels = rng.integers(0, 7, n)

    if engine == "minigrad":
        import minigrad
        import minigrad.functional as F

        ts = [minigrad.Tensor(a, requires_grad=True) for a in arrays]
        rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
        forward = {
            "pool1": lambda t: F.max_pool2d(t[0], 2),
            "bn1": lambda t: F.batch_norm(t[0], rm, rv, t[1], t[2], training=True),
            "dense1": lambda t: F.linear(*t),
            "loss": lambda t: F.cross_entropy(t[0], labels),
        }.get(name, lambda t: F.conv2d(*t, padding="same", algorithm=algorithm or "auto"))
    else:
        import torch
        import torch.nn.functional as F

        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        rm, rv, yt = torch.zeros(64), torch.ones(64), torch.from_numpy(labels)
        forward = {
            "pool1": lambda t: F.max_pool2d(t[0], 2),
            "bn1": lambda t: F.batch_norm(t[0], rm, rv, t[1], t[2], training=True),
            "dense1": lambda t: F.linear(*t),
            "loss": lambda t: F.cross_entropy(t[0], yt),
        }.get(name, lambda t: F.conv2d(*t, padding="same"))

    def step():
        out = forward(ts)
        out.backward(out.detach() if engine != "minigrad" else out.data)
    return step


# The xception preset's new ops at its shapes (batch 64, block 2 of the network: 64 channels at 22x22;
# the stem's 8 -> 8 convolution at 44x44).  Each is memory-bound: ``traffic`` is the least data
# its forward + backward must move, in units of its input's size, which over the machine's
# stream bandwidth gives the time it could take at best.
FAST_OPS = {
    #  name       input shape        traffic  (what it moves)
    "dwconv":   ((64, 64, 22, 22), 5.0),    # fwd x, y; bwd gy, x, gx
    "pwconv":   ((64, 64, 22, 22), 5.0),
    "stemconv": ((64, 8, 44, 44), 5.0),
    "pool3":    ((64, 64, 22, 22), 3.0),    # fwd x, y + index (1/4 each); bwd gy, index, gx
    "bnrelu":   ((64, 64, 22, 22), 6.0),    # fwd x, y; bwd gy, x, y, gx
    "avgpool":  ((64, 64, 22, 22), 2.5),    # fwd x, y (1/4); bwd gy (1/4), gx
    "gap":      ((64, 64, 22, 22), 2.0),    # fwd x; bwd gx
    "add":      ((64, 64, 22, 22), 3.0),    # fwd a, b, y (backward passes gy on, no traffic)
}
CHANNEL_MAJOR_OPS = ("dwconv", "pwconv", "pool3", "bnrelu", "gap", "add")
"""The ops that the xception network's blocks run channel-major: minigrad measures them so."""


def fast_op_function(name, engine):
    """One of FAST_OPS, forward + backward, in minigrad or PyTorch."""
    import numpy as np

    shape, _ = FAST_OPS[name]
    rng = np.random.default_rng(0)
    C = shape[1]
    x = rng.standard_normal(shape, dtype=np.float32)
    weights = {"dwconv": (C, 1, 3, 3), "pwconv": (C, C, 1, 1), "stemconv": (C, C, 3, 3)}
    arrays = [x] + ([rng.standard_normal(weights[name], dtype=np.float32) * 0.1] if name in weights else [])
    if name == "bnrelu":
        arrays += [np.ones(C, np.float32), np.zeros(C, np.float32)]
    if name == "add":
        arrays.append(rng.standard_normal(shape, dtype=np.float32))
    if engine == "minigrad":
        import minigrad as lib
        import minigrad.functional as F

        if name in CHANNEL_MAJOR_OPS:
            from minigrad.ops.layout import from_planes, planes

            arrays = [from_planes(planes(a)) if a.shape == shape else a for a in arrays]
        ts = [lib.Tensor(a, requires_grad=True) for a in arrays]
        bn_relu = lambda t: F.batch_norm_relu(t[0], None, None, t[1], t[2], training=True)  # noqa: E731
    else:
        import torch as lib
        import torch.nn.functional as F

        ts = [lib.tensor(a, requires_grad=True) for a in arrays]
        bn_relu = lambda t: F.relu(F.batch_norm(t[0], None, None, t[1], t[2], training=True))  # noqa: E731
    forward = {
        "dwconv": lambda t: F.conv2d(t[0], t[1], None, 1, 1, groups=C) if engine == "minigrad"
        else F.conv2d(t[0], t[1], None, 1, 1, 1, C),
        "pwconv": lambda t: F.conv2d(t[0], t[1]),
        "stemconv": lambda t: F.conv2d(t[0], t[1], None, 1, 1),
        "pool3": lambda t: F.max_pool2d(t[0], 3, 2, 1),
        "bnrelu": bn_relu,
        "avgpool": lambda t: F.avg_pool2d(t[0], 2),
        "gap": lambda t: F.adaptive_avg_pool2d(t[0], 1),
        "add": lambda t: t[0] + t[1],
    }[name]

    def step():
        out = forward(ts)
        out.backward(out.detach() if engine != "minigrad" else out.data)
    return step


def stream_copy(n_bytes=256 * 2**20):
    """Bytes per second of a parallel copy (read + write counted), every thread copying its part:
    the memory bandwidth that memory-bound kernels can hope for."""
    import numpy as np
    from numba import njit, prange

    @njit(parallel=True)
    def copy(src, dst):
        for i in prange(src.shape[0]):
            dst[i] = src[i]

    src = np.ones((256, n_bytes // 4 // 256), np.float32)
    dst = np.empty_like(src)
    seconds = timed(lambda: copy(src, dst), 2, 10)
    return 2 * src.nbytes / seconds


def run_case(case, threads, quick):
    """Measure one case in this process; returns a dict (printed as JSON by the parent's child)."""
    reps = 2 if quick else 5
    if case == "import":
        start = time.perf_counter()
        import minigrad  # noqa: F401
        return {"seconds": time.perf_counter() - start}
    if case.startswith("compile"):
        start = time.perf_counter()
        import minigrad
        import minigrad.functional as F
        import minigrad.nn
        from fer.models.networks import seed_cnn, seed_dnn, xception

        x, y = batch(8)
        for model in (seed_cnn(widths=(4, 4, 4, 4), dense=(8, 8, 8)), seed_dnn(hidden=(8, 8)),
                      xception(stem=(4,), widths=(4, 8))):
            model = minigrad.nn.fuse(model)
            loss = F.cross_entropy(model(minigrad.Tensor(x)), y)
            loss.backward()
            model.eval()
            with minigrad.no_grad():
                model(minigrad.Tensor(x))
        return {"seconds": time.perf_counter() - start}
    if case == "stream":
        return {"gbytes_per_s": stream_copy() / 1e9}
    if case == "matmul":
        import numpy as np

        a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
        seconds = timed(lambda: a @ a, 2, reps + 3)
        return {"seconds": seconds, "gflops": 2 * 2048 ** 3 / seconds / 1e9}

    kind, *rest = case.split("-")
    engine = "-".join(rest[-2:]) if rest[-1] == "cl" else rest[-1]
    if kind == "op":
        step = op_function(rest[0], engine)
        n = 128
    elif kind == "fastop":
        step = fast_op_function(rest[0], engine)
        n = FAST_OPS[rest[0]][0][0]
    else:
        model_name, n = rest[0], int(rest[1])
        step = step_function(model_name, n, engine, train=(kind == "train"))
    if engine != "minigrad":
        import torch

        torch.set_num_threads(threads)
    before = rss_mb()
    seconds = timed(step, 2, 20 if kind in ("latency", "op", "fastop") else reps)
    return {"seconds": seconds, "images_per_s": n / seconds, "peak_mb": rss_mb() - before}


# -------------------------------------------------------------------------- parent side
def child(case, threads, quick, env_extra=None):
    # As a new user's script: no thread-pool variables of our own (minigrad must cope without them).
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env = dict(env, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **(env_extra or {}))
    args = [sys.executable, __file__, "--case", case, "--threads", str(threads)] + (["--quick"] if quick else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(f"  {case}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine():
    """CPU model, its vector extensions and the BLAS NumPy uses: what a ratio depends on."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    extensions = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AMX", "amx_tile"))
                  if flag in flags]
    blas = "BLAS unknown"
    try:
        import numpy  # noqa: F401  (loads NumPy's BLAS, so that threadpoolctl sees it)
        from threadpoolctl import threadpool_info

        info = next(i for i in threadpool_info() if i.get("user_api") == "blas")
        blas = f"{info['internal_api']} {info.get('version')} ({info.get('architecture')} kernels)"
    except (ImportError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {'/'.join(extensions) or 'no AVX2'}; NumPy's BLAS: {blas}"


def versions():
    import numba
    import numpy

    text = f"Python {platform.python_version()}, NumPy {numpy.__version__}, numba {numba.__version__}"
    try:
        import torch
        text += f", PyTorch {torch.__version__}"
    except ImportError:
        text += ", PyTorch not installed"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, batch 128 only")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        if os.environ.get("BENCH_NUMPY_FIRST"):
            import numpy  # noqa: F401  (as most scripts do: NumPy's BLAS pool starts before minigrad's import)
        print(json.dumps(run_case(args.case, args.threads, args.quick)))
        return

    try:
        import torch  # noqa: F401
        engines = ["minigrad"] if args.no_torch else ["minigrad", "torch", "torch-cl"]
    except ImportError:
        engines = ["minigrad"]
    rows = []  # (group, what, engine, result)

    def measure(group, what, case, engine, **env):
        result = child(case, args.threads, args.quick, env)
        rows.append((group, what, engine, result))
        shown = "failed" if result is None else ", ".join(f"{k} {v:.4g}" for k, v in result.items())
        print(f"{group:10} {what:22} {engine:9} {shown}", flush=True)
        return result

    peak = measure("machine", "matmul 2048^3 float32", "matmul", "numpy")
    stream = measure("machine", "stream copy", "stream", "numba")
    measure("startup", "import minigrad", "import", "minigrad")
    with tempfile.TemporaryDirectory() as cache:
        measure("startup", "first step, cold cache", "compile-cold", "minigrad", NUMBA_CACHE_DIR=cache)
        measure("startup", "first step, warm cache", "compile-warm", "minigrad", NUMBA_CACHE_DIR=cache)
    for op in OPS:
        for engine in engines[:2]:
            measure("op", f"{op} fwd+bwd b128", f"op-{op}-{engine}", engine)
        if op in ("conv2", "conv3", "conv4"):  # the rows above use Winograd: the general path too
            measure("op", f"{op} fwd+bwd b128, im2col", f"op-{op}_im2col-minigrad", "minigrad")
    for op in FAST_OPS:
        for engine in engines:
            measure("fast op", f"{op} fwd+bwd b64", f"fastop-{op}-{engine}", engine)
    for name in PRESET_NETWORKS:
        for engine in engines:
            measure("train", f"{name} batch 64", f"train-{name}-64-{engine}", engine)
    batches = [128] if args.quick else [64, 128, 256]
    for n in batches:
        for engine in engines:
            measure("train", f"cnn batch {n}", f"train-cnn-{n}-{engine}", engine)
    for order, env in (("minigrad", {}), ("NumPy", {"BENCH_NUMPY_FIRST": "1"})):
        measure("import order", f"cnn batch 128, {order} first", "train-cnn-128-minigrad", "minigrad", **env)
    for engine in engines[:2]:
        measure("train", "dnn batch 128", f"train-dnn-128-{engine}", engine)
    for engine in engines:
        measure("infer", "cnn batch 256", f"infer-cnn-256-{engine}", engine)
        measure("infer", "cnn batch 1", f"latency-cnn-1-{engine}", engine)

    table = format_table(rows, peak["gflops"] if peak else None, stream["gbytes_per_s"] if stream else None)
    print("\n" + table)
    command = "python benchmarks/suite.py " + " ".join(argv if argv is not None else sys.argv[1:])
    Path(args.out).write_text(
        f"# Benchmark results\n\nMachine: {machine()}; {args.threads} threads. {versions()}.\n\nCommand: `{command.strip()}` ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
        "Ratios are minigrad's speed over PyTorch's best layout measured in the same run (>1: minigrad faster); "
        "memory is the process's peak RSS growth during the measured steps.\n\n" + table + "\n")
    print(f"\nwritten to {args.out}")


def format_table(rows, peak_gflops, stream_gbytes=None):
    """Markdown table: one line per (group, what), minigrad beside torch's best layout."""
    lines = ["| group | case | minigrad | PyTorch (best layout) | ratio | minigrad peak MB | torch peak MB | notes |",
             "|---|---|---|---|---|---|---|---|"]
    seen = {}
    for group, what, engine, result in rows:
        seen.setdefault((group, what), {})[engine] = result
    for (group, what), results in seen.items():
        mine = results.get("minigrad") or results.get("numpy") or results.get("numba")
        torch_results = [r for e, r in results.items() if e.startswith("torch") and r]
        best = min(torch_results, key=lambda r: r["seconds"]) if torch_results else None
        unit = "images/s" if group in ("train", "infer", "import order") and not what.endswith("batch 1") else "ms"

        def show(r):
            if not r:
                return "-"
            if "gflops" in r:
                return f"{r['gflops']:.0f} GFLOP/s"
            if "gbytes_per_s" in r:
                return f"{r['gbytes_per_s']:.1f} GB/s"
            return f"{r['images_per_s']:.0f} images/s" if unit == "images/s" else f"{r['seconds'] * 1000:.1f} ms"

        ratio = f"{best['seconds'] / mine['seconds']:.2f}x" if mine and best else "-"
        notes = ""
        if group == "train" and what.startswith("cnn") and mine and peak_gflops:
            achieved = CNN_GFLOP_PER_IMAGE * mine["images_per_s"]
            notes = f"{achieved:.0f} GFLOP/s = {achieved / peak_gflops:.0%} of matmul peak"
        if group == "fast op" and mine and stream_gbytes:
            shape, traffic = FAST_OPS[what.split()[0]]
            least = traffic * 4 * math.prod(shape) / 1e9 / stream_gbytes
            notes = f"memory-bound limit {least * 1000:.2f} ms: {least / mine['seconds']:.0%} of it"
        layouts = ", ".join(f"{e} {show(r)}" for e, r in results.items() if e.startswith("torch") and r)
        if len(torch_results) > 1:
            notes = (notes + "; " if notes else "") + layouts
        mem = lambda r: f"{r['peak_mb']:.0f}" if r and "peak_mb" in r else "-"  # noqa: E731
        lines.append(f"| {group} | {what} | {show(mine)} | {show(best)} | {ratio} | {mem(mine)} | {mem(best)} | {notes} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""The op profiler: where a forward, a backward and an optimiser step spend their time.

    with minigrad.profiler.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    print(prof.table(sort_by="total"))
    prof.export_chrome_trace("trace.json")    # open in https://ui.perfetto.dev or chrome://tracing

Every ``Function``'s ``forward`` (run by ``Function.apply``) and ``backward`` (run by the
backward walk) and every ``Optimizer.step`` becomes one event: its name, its phase, start,
duration and *self* time (the duration less that of events inside it, so no time counts
twice).  Outside a ``profile()`` block the engine makes one ``is None`` check per op.

The table groups events by (op, phase): calls, total and mean self time, share of the block's
wall time, FLOPs and bytes moved, GFLOP/s and GB/s, and those as shares of this machine's
peaks, measured once per process (:func:`machine_peaks`).  FLOPs come from the shapes
(:func:`forward_flops`; a backward is counted as 2x its forward: two products of the same
size for a matrix product or a convolution, about two operations per element elsewhere).
A convolution is counted as the direct formula's FLOPs whatever the algorithm: Winograd's
transforms need fewer multiplications, so its "GFLOP/s" is an effective rate that may pass
the matrix-multiply peak.
Bytes moved are every array an op reads plus every array it writes, each once: a lower bound
(a cache-blocked GEMM or an im2col reads more).
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from . import autograd

CONVOLUTIONS = {"Conv2d", "DirectConv2d", "PointwiseConv2d", "WinogradConv2d"}
# FLOPs per output element (elementwise maps and batch norm, whose formulas are counted) or per
# input element (reductions and pooling: one addition or comparison each).
PER_OUTPUT = {"Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Neg": 1, "Pow": 1, "Exp": 1, "Log": 1, "Sqrt": 1,
              "Abs": 1, "Clip": 2, "Maximum": 1, "Minimum": 1, "Cast": 1, "ReLU": 1, "LeakyReLU": 2,
              "Sigmoid": 3, "Tanh": 1, "Dropout": 2, "Softmax": 4, "LogSoftmax": 4,
              "BatchNorm": 7, "BatchNormReLU": 8, "BatchNormEval": 2, "BatchNormReLUEval": 3}
PER_INPUT = {"Sum": 1, "Mean": 1, "Max": 1, "Min": 1, "MaxPool2d": 1, "AvgPool2d": 1,
             "AdaptiveAvgPool2d": 1, "MaxPool2x2Dropout": 2, "CrossEntropy": 4}
MOVES_ONLY = {"Reshape", "Permute", "GetItem", "Concatenate", "Stack", "Pad", "ChannelMajor"}
VIEWS = {"Reshape", "Permute"}  # NumPy views: no bytes move (counted as 0)


def forward_flops(name: str, in_shapes: list, out_shape: tuple) -> int | None:
    """Floating-point operations of one forward of op ``name`` (None where not defined).

    ``in_shapes``: the shapes of its array inputs in order (None for a non-array argument).
    A convolution with weight (O, C/G, kh, kw) and output (N, O, OH, OW) makes
    2*N*O*(C/G)*kh*kw*OH*OW (a multiply and an add per tap); a matrix product (..., M, K) @ (K, N)
    and a linear layer 2*M*K*N.
    """
    out_size = int(np.prod(out_shape))
    if name in CONVOLUTIONS:
        o, c, kh, kw = in_shapes[1]
        return 2 * out_size * c * kh * kw
    if name in ("MatMul", "Linear"):
        return 2 * out_size * in_shapes[0][-1]
    if name in PER_OUTPUT:
        return PER_OUTPUT[name] * out_size
    if name in PER_INPUT:
        return PER_INPUT[name] * int(np.prod(in_shapes[0]))
    if name in MOVES_ONLY:
        return 0
    return None


def _array(value):
    """The array of a Tensor or an array; None for anything else."""
    from .tensor import Tensor
    value = value.data if isinstance(value, Tensor) else value
    return value if isinstance(value, np.ndarray) else None


def _nbytes(values) -> int:
    return sum(a.nbytes for a in map(_array, values) if a is not None)


def _shapes(values) -> list:
    return [None if a is None else a.shape for a in map(_array, values)]


@dataclass
class Event:
    """One timed call: ``phase`` is "forward", "backward" or "optimizer"; times in seconds."""
    name: str
    phase: str
    start: float
    duration: float
    self_time: float
    flops: int | None
    bytes: int | None
    thread: int
    shapes: str = ""


_peaks = None


def machine_peaks() -> tuple[float, float]:
    """(matrix-multiply FLOP/s, memory bytes/s) of this machine, measured once per process.

    The first: a 1024 x 1024 float32 matrix product (2 * 1024**3 FLOPs), the best of 5.  The
    second: ``np.copyto`` of a 64 MiB float32 array, counted as 128 MiB moved (read + write),
    the best of 5.  Both use the threads NumPy's BLAS and memory system allow right now; on a
    shared machine a share above 100% in the table means the reference ran at a busier moment.
    """
    global _peaks
    if _peaks is None:
        rng = np.random.default_rng(0)
        a, b = rng.random((1024, 1024), dtype=np.float32), rng.random((1024, 1024), dtype=np.float32)
        src, dst = np.ones(16 << 20, np.float32), np.empty(16 << 20, np.float32)
        matmul = copy = float("inf")
        for _ in range(5):
            tic = time.perf_counter()
            a @ b
            matmul = min(matmul, time.perf_counter() - tic)
            tic = time.perf_counter()
            np.copyto(dst, src)
            copy = min(copy, time.perf_counter() - tic)
        _peaks = (2 * 1024 ** 3 / matmul, 2 * src.nbytes / copy)
    return _peaks


@dataclass
class Profile:
    """The events of one ``profile()`` block (see the module docstring)."""
    events: list = field(default_factory=list)
    wall: float = 0.0
    started: float = 0.0
    _stacks: dict = field(default_factory=dict, repr=False)  # per thread: child time of each open event

    # ------------------------------------------------------------ the engine's hooks
    def _timed(self, name, phase, run, costs):
        """Run ``run()``, record its event; ``costs(result)`` -> (flops, bytes, shapes)."""
        stack = self._stacks.setdefault(threading.get_ident(), [])
        stack.append(0.0)
        start = time.perf_counter()
        try:
            result = run()
        finally:
            duration = time.perf_counter() - start
            children = stack.pop()
            if stack:
                stack[-1] += duration
        flops, nbytes, shapes = costs(result)
        self.events.append(Event(name, phase, start, duration, duration - children, flops, nbytes,
                                 threading.get_ident(), shapes))
        return result

    def forward(self, cls, ctx, arrays, kwargs):
        def costs(out):
            shapes = _shapes(arrays)
            flops = forward_flops(cls.__name__, shapes, np.shape(out))
            nbytes = 0 if cls.__name__ in VIEWS else _nbytes(arrays) + _nbytes([out])
            return flops, nbytes, _describe(shapes, np.shape(out))
        return self._timed(cls.__name__, "forward", lambda: cls.forward(ctx, *arrays, **kwargs), costs)

    def backward(self, ctx, grad):
        inputs = ctx.inputs  # read before backward: nothing frees them until the walk moves on

        def costs(grads):
            shapes = _shapes(inputs)
            flops = forward_flops(ctx.function.__name__, shapes, grad.shape)
            grads = grads if isinstance(grads, tuple) else (grads,)
            nbytes = 0 if ctx.function.__name__ in VIEWS else _nbytes(inputs) + grad.nbytes + _nbytes(grads)
            return None if flops is None else 2 * flops, nbytes, _describe(shapes, grad.shape)
        return self._timed(ctx.function.__name__, "backward", lambda: ctx.function.backward(ctx, grad), costs)

    def optimizer_step(self, optimizer, step):
        def costs(_):
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            state = [v for p in params for v in optimizer.state.get(id(p), {}).values()]
            # reads parameter, gradient and state; writes parameter and state
            return None, 2 * _nbytes(params) + _nbytes([p.grad for p in params]) + 2 * _nbytes(state), ""
        return self._timed(f"{type(optimizer).__name__}.step", "optimizer", step, costs)

    # ------------------------------------------------------------ reading the events
    def summary(self) -> list[dict]:
        """One dict per (op, phase): calls, total and mean self seconds, share of the wall time,
        flops, bytes, gflops_per_s, gb_per_s, peak_share, bandwidth_share (None where undefined)."""
        peak_flops, peak_bytes = machine_peaks()
        groups: dict = {}
        for e in self.events:
            groups.setdefault((e.name, e.phase), []).append(e)
        rows = []
        for (name, phase), events in groups.items():
            total = sum(e.self_time for e in events)
            flops = None if any(e.flops is None for e in events) else sum(e.flops for e in events)
            nbytes = sum(e.bytes for e in events)
            rate = None if flops is None or total <= 0 else flops / total
            speed = nbytes / total if total > 0 else None
            rows.append(dict(op=name, phase=phase, calls=len(events), total=total, mean=total / len(events),
                             share=total / self.elapsed(), flops=flops, bytes=nbytes,
                             gflops_per_s=None if rate is None else rate / 1e9,
                             gb_per_s=None if speed is None else speed / 1e9,
                             peak_share=None if rate is None else rate / peak_flops,
                             bandwidth_share=None if speed is None else speed / peak_bytes))
        return rows

    def elapsed(self) -> float:
        """The block's wall time (so far, when read inside it)."""
        return self.wall or time.perf_counter() - self.started

    def total(self) -> float:
        """Seconds inside profiled events (self times summed: nested time counts once)."""
        return sum(e.self_time for e in self.events)

    def table(self, sort_by: str = "total", limit: int | None = None) -> str:
        """The summary as a text table, sorted by a summary key (descending)."""
        rows = sorted(self.summary(), key=lambda r: -(r[sort_by] or 0) if sort_by not in ("op", "phase")
                      else r[sort_by])
        peak_flops, peak_bytes = machine_peaks()

        def num(value, fmt):
            return "-" if value is None else format(value, fmt)
        lines = [f"{'op':<22}{'phase':<10}{'calls':>6}{'total ms':>10}{'mean ms':>9}{'share':>7}"
                 f"{'GFLOP':>9}{'GFLOP/s':>9}{'%peak':>7}{'MB':>9}{'GB/s':>7}{'%bw':>6}"]
        for r in rows[:limit]:
            lines.append(f"{r['op'][:21]:<22}{r['phase']:<10}{r['calls']:>6}{r['total'] * 1e3:>10.2f}"
                         f"{r['mean'] * 1e3:>9.3f}{num(r['share'], '.1%'):>7}"
                         f"{num(r['flops'] and r['flops'] / 1e9, '.3f'):>9}{num(r['gflops_per_s'], '.1f'):>9}"
                         f"{num(r['peak_share'], '.0%'):>7}{r['bytes'] / 1e6:>9.1f}{num(r['gb_per_s'], '.1f'):>7}"
                         f"{num(r['bandwidth_share'], '.0%'):>6}")
        if limit is not None and len(rows) > limit:
            lines.append(f"... {len(rows) - limit} more rows")
        lines.append(f"ops {self.total() * 1e3:.1f} ms of {self.elapsed() * 1e3:.1f} ms wall "
                     f"({self.total() / self.elapsed():.0%}; the rest is Python between ops, data, glue); "
                     f"machine peaks: {peak_flops / 1e9:.0f} GFLOP/s float32 matmul, "
                     f"{peak_bytes / 1e9:.1f} GB/s copy")
        return "\n".join(lines)

    def export_chrome_trace(self, path) -> None:
        """Chrome trace-event JSON: one complete ("X") event per op call, times in microseconds."""
        pid = os.getpid()
        events = [{"name": e.name, "cat": e.phase, "ph": "X", "pid": pid, "tid": e.thread,
                   "ts": (e.start - self.started) * 1e6, "dur": e.duration * 1e6,
                   "args": {"shapes": e.shapes, "flops": e.flops, "bytes": e.bytes}} for e in self.events]
        with open(path, "w") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)


def _describe(shapes, out_shape) -> str:
    given = ", ".join(str(s) for s in shapes if s is not None)
    return f"{given} -> {tuple(out_shape)}"


class profile:
    """``with profile() as prof:`` records every op, backward and optimiser step inside (one at a time)."""

    def __enter__(self) -> Profile:
        if autograd._profiler is not None:
            raise RuntimeError("minigrad.profiler.profile: a profile is already active (they do not nest)")
        machine_peaks()  # measured before the clock starts, not inside the first op
        self.profile = Profile()
        self.profile.started = time.perf_counter()
        autograd._profiler = self.profile
        return self.profile

    def __exit__(self, *exc):
        autograd._profiler = None
        self.profile.wall = time.perf_counter() - self.profile.started
        return False

"""minigrad.profiler: every op's forward and backward and each optimiser step become events whose
FLOPs follow from the shapes, whose self times never exceed the block's wall time, and which
export as Chrome trace-event JSON.  No timing is asserted."""
import json

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import autograd, nn, optim, profiler

pytestmark = pytest.mark.usefixtures("one_thread")


def small_step():
    """A conv -> ReLU -> linear step with its optimiser, and the shapes the test computes FLOPs from."""
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = minigrad.Tensor(np.random.default_rng(0).random((2, 3, 6, 6), dtype=np.float32))
    y = np.array([1, 3])

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def test_every_forward_backward_and_step_is_an_event_with_shape_flops(tmp_path):
    step = small_step()
    step()  # compile outside the block
    with profiler.profile() as prof:
        step()
    phases = {(e.name, e.phase) for e in prof.events}
    conv = [e for e in prof.events if "Conv" in e.name]
    assert {e.phase for e in conv} == {"forward", "backward"}
    assert ("SGD.step", "optimizer") in phases and ("Linear", "backward") in phases
    n, o, c, kh, kw, oh, ow = 2, 4, 3, 3, 3, 6, 6
    forward = next(e for e in conv if e.phase == "forward")
    backward = next(e for e in conv if e.phase == "backward")
    assert forward.flops == 2 * n * o * c * kh * kw * oh * ow
    assert backward.flops == 2 * forward.flops
    linear = next(e for e in prof.events if e.name == "Linear" and e.phase == "forward")
    assert linear.flops == 2 * 2 * 144 * 5
    # self times: nested time is counted once, so the ops never sum past the block's wall time
    assert 0 < prof.total() <= prof.wall
    assert all(e.self_time <= e.duration for e in prof.events)
    rows = {(r["op"], r["phase"]): r for r in prof.summary()}
    assert sum(r["calls"] for r in rows.values()) == len(prof.events)
    assert rows[(forward.name, "forward")]["flops"] == forward.flops
    table = prof.table(sort_by="total")
    assert table.splitlines()[0].split()[:3] == ["op", "phase", "calls"] and forward.name in table

    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    trace = json.loads(path.read_text())["traceEvents"]
    assert len(trace) == len(prof.events) and all(e["ph"] == "X" and e["dur"] >= 0 for e in trace)
    assert [e["name"] for e in trace] == [e.name for e in prof.events]


def test_inactive_outside_the_block_and_blocks_do_not_nest():
    step = small_step()
    with profiler.profile() as prof:
        with pytest.raises(RuntimeError, match="already active"):
            with profiler.profile():
                pass
    assert autograd._profiler is None
    step()
    assert prof.events == []


def test_nested_events_count_their_children_once():
    class _Outer(autograd.Function):  # an op whose forward runs another op (underscore: not a real op)
        @staticmethod
        def forward(ctx, x):
            return (minigrad.Tensor(x) * 2).data

        @staticmethod
        def backward(ctx, g):
            return 2 * g
    with profiler.profile() as prof:
        _Outer.apply(minigrad.Tensor(np.ones(3), requires_grad=True))
    outer, inner = (next(e for e in prof.events if e.name == name) for name in ("_Outer", "Mul"))
    assert outer.self_time == pytest.approx(outer.duration - inner.duration)
    assert prof.total() <= prof.wall


def test_fer_train_profile_writes_the_table_and_the_trace(tmp_path, tiny_args, capsys):
    from fer import train

    assert train.main(tiny_args(tmp_path, "cnn", 1, 120, "--profile", "2")) == 0
    printed = capsys.readouterr().out
    assert "op profile of 2 training steps (steps 2-3)" in printed
    assert (tmp_path / "profile.txt").read_text().splitlines()[1].split()[:3] == ["op", "phase", "calls"]
    trace = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    names = {e["name"] for e in trace}
    assert "AdamW.step" in names or "SGD.step" in names
    assert sum(e["name"].endswith(".step") for e in trace) == 2  # one optimiser step per profiled step


def test_the_table_can_be_read_inside_the_block():
    step = small_step()
    with profiler.profile() as prof:
        step()
        assert "SGD.step" in prof.table() and prof.elapsed() >= prof.total()
    assert prof.elapsed() == prof.wall

"""minigrad.optim: update rules against torch.optim and by hand, state round trips, float32, schedules."""
import json
import math

import numpy as np
import pytest

from minigrad import optim
from minigrad.nn import Parameter

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(np.float32)) for s in SHAPES]


def grads_for(step, seed=1):
    rng = np.random.default_rng([seed, step])
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


def run_ours(make_optimizer, steps, params=None):
    params = params or make_params()
    optimizer = make_optimizer(params)
    for step in range(steps):
        for p, g in zip(params, grads_for(step)):
            p.grad = g
        optimizer.step()
    return params, optimizer


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.3, eps=1e-6)),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS)
def test_optimizers_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, _ = run_ours(lambda ps: getattr(optim, name)(ps, **kwargs), steps=6)
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in make_params()]
    optimizer = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(6):
        for p, g in zip(theirs, grads_for(step)):
            p.grad = torch.from_numpy(g)
        optimizer.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_sgd_one_step_by_hand():
    w = Parameter(np.array([1.0, -2.0], dtype=np.float32))
    opt = optim.SGD([w], lr=0.5, momentum=0.9, weight_decay=0.1)
    w.grad = np.array([0.2, 0.4], dtype=np.float32)
    opt.step()  # d = g + 0.1 w = [0.3, 0.2]; buf = d; w -= 0.5 d
    np.testing.assert_allclose(w.data, [0.85, -2.1], rtol=1e-6)
    w.grad = np.array([0.2, 0.4], dtype=np.float32)
    opt.step()  # d = [0.285, 0.19]; buf = 0.9 [0.3, 0.2] + d = [0.555, 0.37]
    np.testing.assert_allclose(w.data, [0.85 - 0.2775, -2.1 - 0.185], rtol=1e-6)


def test_adam_first_step_is_lr_times_sign():
    # t = 1: m_hat = g and sqrt(v_hat) = |g|, so the step is lr * g / (|g| + eps).
    w = Parameter(np.array([1.0, 1.0, 1.0], dtype=np.float32))
    w.grad = np.array([3.0, -0.5, 0.0], dtype=np.float32)
    optim.Adam([w], lr=0.1).step()
    np.testing.assert_allclose(w.data, [0.9, 1.1, 1.0], rtol=1e-6)
    w = Parameter(np.array([2.0], dtype=np.float32))
    w.grad = np.array([1.0], dtype=np.float32)
    optim.AdamW([w], lr=0.1, weight_decay=0.5).step()  # w *= 1 - 0.05, then -= 0.1
    np.testing.assert_allclose(w.data, [2.0 * 0.95 - 0.1], rtol=1e-6)


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS)
def test_float32_stays_float32_and_grad_untouched(name, kwargs):
    params = make_params()
    optimizer = getattr(optim, name)(params, **kwargs)
    optimizer.lr = np.float64(kwargs["lr"])  # as a numpy-computed schedule would set it
    for step in range(2):
        grads = grads_for(step)
        for p, g in zip(params, grads):
            p.grad = g.copy()
        optimizer.step()
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)
    arrays = [p.data for p in params] + [v for s in optimizer.state.values() for v in s.values()
                                          if isinstance(v, np.ndarray)]
    assert arrays and all(a.dtype == np.float32 for a in arrays)


def test_parameters_without_grad_are_skipped():
    a, b = make_params()[:2]
    before = b.data.copy()
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones_like(a.data)
    opt.step()
    np.testing.assert_array_equal(b.data, before)
    assert id(b) not in opt.state
    opt.zero_grad()
    assert a.grad is None


def test_lr_property_and_param_groups():
    p1, p2, p3 = make_params()
    opt = optim.SGD([{"params": [p1, p2]}, {"params": [p3], "lr": 0.01}], lr=0.1, momentum=0.9)
    assert opt.lr == 0.1 and opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[1]["momentum"] == 0.9  # defaults fill in
    opt.lr = 0.5
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]
    opt.param_groups[0]["lr"] = 0.2
    assert opt.lr == 0.2
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [p1]}, {"params": [p1]}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p1], lr=0.1, nesterov=True)


@pytest.mark.parametrize("name, kwargs", [OPTIMIZERS[3], OPTIMIZERS[6], OPTIMIZERS[8]])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    """Stop after 3 steps, rebuild from (JSON + arrays) state, run 3 more: same as 6 in a row."""
    straight, _ = run_ours(lambda ps: getattr(optim, name)(ps, **kwargs), steps=6)

    params, optimizer = run_ours(lambda ps: getattr(optim, name)(ps, **kwargs), steps=3)
    state = optimizer.state_dict()
    groups = json.loads(json.dumps(state["param_groups"]))  # what a checkpoint header does to them
    resumed = [Parameter(p.data.copy()) for p in params]
    fresh = getattr(optim, name)(resumed, lr=123.0)  # the hyper-parameters come from the state
    fresh.load_state_dict({"state": {str(k): v for k, v in state["state"].items()}, "param_groups": groups})
    assert fresh.lr == kwargs["lr"]
    for step in range(3, 6):
        for p, g in zip(resumed, grads_for(step)):
            p.grad = g
        fresh.step()
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_copy_and_checks_shapes():
    params, optimizer = run_ours(lambda ps: optim.Adam(ps), steps=1)
    state = optimizer.state_dict()
    assert state["state"][0]["step"] == 1 and state["param_groups"][0]["params"] == [0, 1, 2]
    state["state"][0]["exp_avg"] += 1
    assert not np.array_equal(optimizer.state[id(params[0])]["exp_avg"], state["state"][0]["exp_avg"])
    state["state"][0]["exp_avg"] = np.zeros((9,), dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        optim.Adam(make_params()).load_state_dict(state)


# --------------------------------------------------------------- schedules
def lr_sequence(scheduler, optimizer, steps, metrics=None):
    lrs = []
    for i in range(steps):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step(*([metrics[i]] if metrics is not None else []))
    return np.array(lrs)


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5), "SGD", {}),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01), "SGD", {}),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20), "SGD", {"momentum": 0.9}),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=25, pct_start=0.4, three_phase=True,
                        anneal_strategy="linear"), "SGD", {"momentum": 0.9}),
    ("OneCycleLR", dict(max_lr=0.01, epochs=3, steps_per_epoch=5), "Adam", {}),
    ("ReduceLROnPlateau", dict(factor=0.5, patience=2, cooldown=1), "SGD", {}),
    ("ReduceLROnPlateau", dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", min_lr=0.02),
     "SGD", {}),
]


@pytest.mark.parametrize("name, kwargs, opt_name, opt_kwargs", SCHEDULES)
def test_schedules_match_torch(name, kwargs, opt_name, opt_kwargs):
    torch = pytest.importorskip("torch")
    steps = 20 if name != "OneCycleLR" else kwargs.get("total_steps", 15)
    metrics = [1.0, 0.9, 0.95, 0.97, 0.96, 0.8, 0.85, 0.86, 0.87, 0.88, 0.5, 0.6, 0.7, 0.8, 0.9,
               0.9, 0.9, 0.4, 0.5, 0.5] if name == "ReduceLROnPlateau" else None
    if kwargs.get("mode") == "max":
        metrics = [1 - m for m in metrics]

    ps = make_params()
    ours_opt = getattr(optim, opt_name)([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1, **opt_kwargs)
    ours = lr_sequence(getattr(optim, name)(ours_opt, **kwargs), ours_opt, steps, metrics)

    tp = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
    torch_opt = getattr(torch.optim, opt_name)([{"params": tp[:2]}, {"params": tp[2:]}], lr=0.1, **opt_kwargs)
    theirs = lr_sequence(getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs), torch_opt, steps, metrics)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)
    if name == "OneCycleLR":  # the momentum / beta1 cycles too
        key = "betas" if opt_name == "Adam" else "momentum"
        assert ours_opt.param_groups[0][key] == pytest.approx(torch_opt.param_groups[0][key])


def test_cosine_with_warmup_by_hand():
    opt = optim.SGD(make_params(), lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=6, warmup_epochs=2, eta_min=0.0)
    lrs = lr_sequence(sched, opt, 7)[:, 0]
    # warm-up 1/3, 2/3, then the cosine from 1 at t = 2 to 0 at t = 6
    expected = [1 / 3, 2 / 3, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0.0]
    np.testing.assert_allclose(lrs, expected, atol=1e-12)


def test_step_lr_by_hand_and_alias():
    opt = optim.SGD(make_params(), lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    np.testing.assert_allclose(lr_sequence(sched, opt, 5)[:, 0], [1, 1, 0.1, 0.1, 0.01])
    assert sched.get_last_lr() == [pytest.approx(0.01)]


@pytest.mark.parametrize("make", [
    lambda o: optim.StepLR(o, step_size=2, gamma=0.5),
    lambda o: optim.CosineAnnealingLR(o, T_max=8, warmup_epochs=2),
    lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=10),
    lambda o: optim.ReduceLROnPlateau(o, patience=1),
])
def test_scheduler_state_dict_resumes(make):
    metrics = [1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    opt = optim.SGD(make_params(), lr=0.1, momentum=0.9)
    sched = make(opt)
    is_plateau = isinstance(sched, optim.ReduceLROnPlateau)
    args = (lambda i: [metrics[i]]) if is_plateau else (lambda i: [])
    full = []
    for i in range(9):
        full.append(opt.lr)
        sched.step(*args(i))

    opt = optim.SGD(make_params(), lr=0.1, momentum=0.9)
    sched = make(opt)
    resumed = []
    for i in range(4):
        resumed.append(opt.lr)
        sched.step(*args(i))
    saved_sched = json.loads(json.dumps(sched.state_dict()))
    saved_opt = opt.state_dict()
    opt2 = optim.SGD(make_params(), lr=0.1, momentum=0.9)
    sched2 = make(opt2)  # PyTorch's order: build both, then load both
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for i in range(4, 9):
        resumed.append(opt2.lr)
        sched2.step(*args(i))
    np.testing.assert_allclose(resumed, full, rtol=1e-12)
    assert len(set(full[4:])) > 1   # the rate still moves after the resume, so the loaded state matters

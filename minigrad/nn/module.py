"""``Module``, ``Parameter`` and the containers ``Sequential`` and ``ModuleList``.

A Module is a function with state.  Its state comes in three kinds, each kept in
its own ordered dict so that the order of definition is the order of iteration:

* ``_parameters``: :class:`Parameter` tensors the optimiser trains (``weight``, ``bias``),
* ``_buffers``: NumPy arrays that are state but not trained (``running_mean``),
* ``_modules``: child modules, which bring their own parameters and buffers.

Assigning an attribute routes it into the right dict (``self.fc = Linear(3, 4)``
registers a child), exactly as in PyTorch, so a model reads like plain Python.
Every parameter and buffer then has a dotted name, the path from the root
(``features.0.weight``, ``4.running_mean``), and those names are the keys of
``state_dict()``: the same keys PyTorch gives the same architecture, so weights move
between the two.

``module(x)`` runs ``forward(x)`` framed by hooks: forward pre-hooks see (and may
replace) the inputs, forward hooks see the inputs and the output and may replace the
output.  Grad-CAM and filter visualisation use them to catch a layer's activations
without touching the model's code.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad`` is True by default.

    It is a plain Tensor in every other way; being a ``Parameter`` is what makes
    ``module.weight = Parameter(...)`` register it.  The data keeps its dtype (give
    float32 arrays; the initialisers in :mod:`minigrad.nn.init` do).
    """

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``handle.remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    # ``with model.register_forward_hook(fn): ...`` removes the hook on leaving the block.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class StateDictKeyError(KeyError):
    """Missing or unexpected state-dict keys.  A KeyError whose message prints as written
    (a plain KeyError would show it quoted, with its line breaks escaped)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match."""
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign their parameters, buffers
    (via :meth:`register_buffer`) and children as attributes, and define
    ``forward``.  Then ``module(x)`` computes the output.
    """

    #: State-dict keys this module accepts and ignores on loading (PyTorch has keys we do not,
    #: e.g. BatchNorm's ``num_batches_tracked``); without them PyTorch weights could not load.
    _ignored_state_keys: tuple = ()

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        # A name lives in at most one of the three dicts: forget it everywhere first.
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"{type(self).__name__}.{name} is a buffer: assign a NumPy array or None, "
                                f"got {type(value).__name__}")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Called only when normal lookup fails, i.e. for registered state.
        for registry in ("_parameters", "_buffers", "_modules"):
            store = self.__dict__.get(registry)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or reserve the name with None, e.g. ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """Add non-trained state (saved in ``state_dict``, ignored by optimisers)."""
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"register_buffer('{name}'): expected a NumPy array or None, got {type(array).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = array

    def add_module(self, name: str, module: Module | None) -> None:
        self.__dict__.pop(name, None)
        self._modules[name] = module

    # --------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "", memo: set | None = None) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module (name ``prefix``) and every descendant, once each."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool):
        """Shared walk for parameters and buffers: each object once, under its first name."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every descendant, then on this module (e.g. custom init)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Training mode: BatchNorm uses batch statistics, Dropout drops.  Returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: BatchNorm uses its running statistics, Dropout is the identity."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter, e.g. for fine-tuning."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (gradients accumulate across backward calls)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    # ------------------------------------------------------------------- hooks
    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after each forward; a non-None return replaces the output.

        ``inputs`` is the tuple of positional arguments.  Returns a handle whose
        ``remove()`` unregisters the hook (also usable as a ``with`` block).
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before each forward; a non-None return replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # -------------------------------------------------------------- state dict
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by dotted name, as NumPy arrays.

        The arrays are *copies* (PyTorch returns references): a state dict kept as
        "the best weights so far" must not change when training continues.
        Shared parameters appear under each of their names, as in PyTorch.
        """
        state = OrderedDict()
        for module_name, module in self.named_modules(memo=_NoMemo()):
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        key = f"{module_name}.{name}" if module_name else name
                        state[key] = np.array(value.data if isinstance(value, Tensor) else value, copy=True)
        return state

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (NumPy arrays, Tensors, or anything ``np.asarray`` reads) into this module.

        Values are copied *into* the existing arrays, cast to their dtype, so an
        optimiser that holds the parameters keeps working.  With ``strict`` (the
        default) a missing or unexpected key raises a KeyError (:class:`StateDictKeyError`)
        listing them all; a wrong shape always raises a ValueError naming the key and
        both shapes.
        Nothing is modified unless every check passes.
        """
        targets = {}
        ignored = set()
        for module_name, module in self.named_modules(memo=_NoMemo()):
            base = f"{module_name}." if module_name else ""
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        targets[base + name] = value
            ignored.update(base + name for name in module._ignored_state_keys)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets and k not in ignored]
        if strict and (missing or unexpected):
            lines = [f"load_state_dict for {type(self).__name__}: the keys do not match this model."]
            if missing:
                lines.append(f"  missing keys ({len(missing)}): {', '.join(missing)}")
            if unexpected:
                lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(map(str, unexpected))}")
            raise StateDictKeyError("\n".join(lines))
        arrays = {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            current = target.data if isinstance(target, Tensor) else target
            if array.shape != current.shape:
                raise ValueError(f"load_state_dict for {type(self).__name__}: '{key}' has shape "
                                 f"{array.shape} in the state dict but {current.shape} in the model")
            arrays[key] = (current, array)
        for current, array in arrays.values():
            np.copyto(current, array, casting="unsafe")  # casting: float64 weights load into float32
        return IncompatibleKeys(missing, unexpected)

    # -------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (e.g. ``in_features=3``)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"\n  {extra}" if extra else "")
        return head + "\n" + "\n".join(lines) + "\n)"


class _NoMemo(set):
    """A memo that remembers nothing: the state dict lists a shared module under every name."""

    def add(self, item):
        pass


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[index]


class Sequential(ModuleList):
    """Children applied one after another: ``Sequential(Linear(3, 4), ReLU(), Linear(4, 2))``.

    Children are named ``0, 1, 2, ...`` counting every layer, parameter-free ones
    included, so keys read ``4.running_mean`` exactly as in PyTorch.  Every layer runs on
    its own; :func:`minigrad.nn.fuse` returns the same model with runs of layers fused into
    one op each (the fast path).  An OrderedDict gives custom names instead.  Supports ``len``, iteration and indexing (a slice
    returns a Sequential that keeps the original names).
    """

    def __init__(self, *modules):
        named = len(modules) == 1 and isinstance(modules[0], OrderedDict)
        super().__init__(() if named else modules)  # ModuleList numbers them 0, 1, 2, ...
        if named:
            for name, module in modules[0].items():
                self.add_module(name, module)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

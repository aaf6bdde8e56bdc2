"""Generators as traced TorchScript graphs: one hand-off of Python's lock per forward instead of one per operator.

The inference process encodes PNGs on a second thread while forwards run. An eager forward takes Python's lock
back after every operator and may wait for that thread each time; a traced graph runs the whole forward in C++
and takes the lock once (docs/benchmarks.md).

The graph runs in TorchScript's plain interpreter (no profiling executor, hence no fuser), under the same
autocast as eager, so it computes with eager's kernels; `prepare` still compares its bytes with eager's on the
probe before serving it.

Tracing is done once per architecture, not per version: every trace adds types and executor state to
TorchScript's process-wide registries that are never freed, which a server hot-swapping versions for days
cannot afford. A version gets a copy of its architecture's traced template, bound to its own weights (shared
with the eager generator, not copied). TorchScript is deprecated in favour of torch.compile, whose CPU code still
calls each kernel from Python; if a later torch drops it, tracing fails and versions serve eagerly.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import threading
import warnings
from collections import OrderedDict
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

MAX_TEMPLATES = 8  # architectures kept traced; each is a graph and empty tensors, no weights
_templates: OrderedDict[tuple, torch.jit.ScriptModule] = OrderedDict()
_templates_lock = threading.Lock()

Forward = Callable[[torch.Tensor, Optional[torch.Tensor]], np.ndarray]


class Rendering(nn.Module):
    """Generator plus quantisation, latents (and class indices) in, (N, H, W, C) uint8 out: what is traced."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.generator(z, labels)
        return ((out.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def _signature(rendering: Rendering, device: torch.device, dtype: torch.dtype,
               labels: torch.Tensor | None) -> tuple:
    """What a trace depends on: the module tree with its hyperparameters, tensor shapes, precision, inputs."""
    tensors = tuple((name, tuple(t.shape), t.dtype, t.is_contiguous(memory_format=torch.channels_last))
                    for name, t in rendering.state_dict(keep_vars=True).items())
    return (repr(rendering), tensors, str(device), dtype, None if labels is None else labels.dtype)


def _hollow(module: torch.jit.ScriptModule) -> None:
    """Drop the example generator's tensors from a template: it keeps the graph, not a version's weights."""
    for tensor in module.state_dict(keep_vars=True).values():
        tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)


def _bind(template: torch.jit.ScriptModule, rendering: Rendering) -> torch.jit.ScriptModule:
    """A copy of the template computing with `rendering`'s own tensors (shared storage, nothing copied)."""
    module = copy.deepcopy(template)
    own = rendering.state_dict(keep_vars=True)
    for name, tensor in module.state_dict(keep_vars=True).items():
        tensor.data = own[name].data
    return module


def _trace(rendering: Rendering, inputs: tuple, autocast) -> torch.jit.ScriptModule:
    try:
        with torch.inference_mode(False), torch.no_grad(), autocast(cache=False), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings: the byte-for-byte probe is the check that matters
            return torch.jit.trace(rendering, inputs, check_trace=False)
    finally:
        # the tracer leaves reference cycles (closures over its module map) that hold the generator: without
        # this a dropped version stayed resident until a full collection
        gc.collect()


def graph_forward(generator: nn.Module, device: torch.device, dtype: torch.dtype, eager: Forward,
                  z: torch.Tensor, labels: torch.Tensor | None) -> Forward | None:
    """`eager`'s computation at `dtype` (autocast below fp32) as a graph, or None where the generator cannot be
    traced. Labels of another kind than the example's (class vectors of a walk, where the trace saw class
    indices) run `eager`."""

    def autocast(cache: bool = True):
        # under autocast as eager runs; traced with autocast's weight cache off, else the trace keeps cast
        # copies of the weights as constants (torch.autocast's documentation on tracing)
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)

    rendering = Rendering(generator).eval()
    inputs = (z.to(device),) if labels is None else (z.to(device), labels.to(device))
    key = _signature(rendering, device, dtype, labels)
    with _templates_lock:
        template = _templates.get(key)
        if template is None:
            try:
                traced = _trace(rendering, inputs, autocast)
            except Exception as e:  # an architecture the tracer cannot follow: eager it is
                log.info("generator not traceable (%s): served eagerly", e)
                return None
            module = traced  # the trace computes with the generator's own tensors already
            template = copy.deepcopy(traced)  # the copy's tensors are its own, and are dropped
            _hollow(template)
            _templates[key] = template
            while len(_templates) > MAX_TEMPLATES:
                _templates.popitem(last=False)
        else:
            _templates.move_to_end(key)
            module = _bind(template, rendering)
    traced_kind = None if labels is None else labels.dtype

    def forward(z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        if (None if labels is None else labels.dtype) != traced_kind:
            return eager(z, labels)
        z, labels = z.to(device), None if labels is None else labels.to(device)
        # held across the call: when the interpreter drops the last C++ reference to an input that Python also
        # holds, torch 2.13 takes Python's lock inside the forward to release the Python object, and waits for
        # it while another thread runs Python; a view keeps a C++ reference
        held = (z.view(z.shape), None if labels is None else labels.view(labels.shape))
        with torch.inference_mode(), torch.jit.optimized_execution(False), autocast():
            out = module(z) if labels is None else module(z, labels)
        del held
        return out.cpu().numpy()

    return forward

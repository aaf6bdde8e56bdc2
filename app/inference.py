"""Preparing a loaded generator for serving: precision, memory format, and batch-invariance by measurement.

Each version is prepared once when the pool loads it. Two probes run on fixed latents:
- precision: a lower precision (bf16 on CPU; fp16 or bf16 on CUDA) is kept only when its images differ from
  the fp32 images by at most `tolerance` levels of 255 on every pixel after uint8 quantisation;
- batch invariance: the images of the probe rendered one at a time must equal, byte for byte, the same
  latents rendered as one batch. fp32 GEMM (the generator's first, linear layer) picks a different kernel for
  one row than for many and can flip a pixel by one level, so the probe tries the model as it is, then with
  its linear layers computed row by row (always, in fp32), and else marks the model unbatchable: every
  image then runs alone.
In a lower precision the convolution and linear weights are then cast once, where that gives the same bytes
(autocast under inference mode casts them at every call). Where it gives the same bytes, the chosen
computation then runs as a traced TorchScript graph (`app/graphs.py`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from dataclasses import dataclass, fields
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.graphs import graph_forward
from models import images as imaging
from models.devices import PRECISIONS, DeviceUnavailable, autocast, cpu_has_native_bf16, resolve_device
from models.latents import seed_latents

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PROBE_SEEDS = list(range(900_000, 900_008))  # fixed, so a version is always prepared the same way; few, as
# the probe runs on every load and a hot swap waits for it


def serving_threads(setting: int) -> int:
    """Torch threads for the inference thread: the setting, or all cores but one, which the event loop and
    the PNG encoders need (two torch threads spinning beside them made serving 10x slower on 2 cores)."""
    return setting if setting > 0 else max(1, (os.cpu_count() or 1) - 1)


def _scripted(fn):
    """`fn` compiled by TorchScript, else as it is. TorchScript is deprecated in favour of torch.compile, whose
    CPU code still calls each kernel from Python; it is kept for what only it does here (a whole computation
    in one call that releases Python's lock), and everything falls back to eager if a torch drops it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(fn)
    except Exception:  # pragma: no cover - depends on the torch build
        return fn


def _linear_rows(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    return torch.cat([F.linear(row, weight, bias) for row in x.split(1)])


linear_rows = _scripted(_linear_rows)  # the loop over rows runs in C++, not one Python call per row


class RowwiseLinear(nn.Module):
    """nn.Linear computed one row at a time: the same kernel whatever the batch, so rows never depend on it."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_rows(x, self.weight, self.bias)


# layers whose weights autocast casts to the reduced precision at every call; exact types only, so that a subclass
# computing its weight (a scale, a parametrization) keeps doing so in fp32
CAST_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
               nn.Linear, RowwiseLinear)


def _with_cast_weights(module: nn.Module, device: torch.device, precision: str, forward, z: torch.Tensor,
                       labels: torch.Tensor | None, alone: np.ndarray) -> tuple[nn.Module, Callable, bool]:
    """A copy of `module` whose convolution and linear weights are held in the reduced precision, with its
    forward, when it renders the probe's bytes exactly as `module` does; else `module` and `forward` as they
    are. Under inference mode autocast keeps no cache, so it cast every weight at every call: 8-19% of a bf16
    forward of the DCGANs here (docs/benchmarks.md). Cast once, the same kernels get the same values."""
    if precision == "fp32" or not any(type(m) in CAST_LAYERS for m in module.modules()):
        return module, forward, False
    cast = copy.deepcopy(module)  # the loaded generator stays as it is: the fp32 probes run on it
    for layer in cast.modules():
        if type(layer) in CAST_LAYERS:
            layer.to(DTYPES[precision])
    cast_forward = _runner(cast, device, precision)
    if _same_bytes(cast_forward, z, labels, alone, f"generator with weights cast to {precision}"):
        return cast, cast_forward, True
    return module, forward, False


def _rowwise(module: nn.Module) -> nn.Module:
    """Swap every nn.Linear for a RowwiseLinear sharing its parameters, in place."""
    for child in list(module.modules()):
        for attr, sub in list(child.named_children()):
            if type(sub) is nn.Linear:
                setattr(child, attr, RowwiseLinear(sub))
    return module


@dataclass(frozen=True)
class Prepared:
    """A generator ready to serve: `forward` maps (N, latent_dim) latents and labels to (N, H, W, C) uint8."""

    forward: Callable[[torch.Tensor, torch.Tensor | None], np.ndarray]
    precision: str
    batchable: bool  # False: run every image alone to keep seeds byte-stable
    rowwise_linear: bool
    max_pixel_diff: int  # largest per-pixel difference from fp32 on the probe, in levels of 255
    graph: bool = False  # runs as a traced TorchScript graph
    cast_weights: bool = False  # convolution and linear weights held in `precision` (see _with_cast_weights)

    def choices(self) -> dict:
        """What the probes chose, as plain data (everything but `forward`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "forward"}

    @classmethod
    def elsewhere(cls, choices: dict, where: str) -> Prepared:
        """The choices of a generator that another process prepared and runs: its `forward` refuses."""

        def forward(z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
            raise RuntimeError(f"this version runs in {where}, not in this process")

        return cls(forward, **{f.name: choices[f.name] for f in fields(cls) if f.name != "forward"})


def _runner(generator: nn.Module, device: torch.device, precision: str
            ) -> Callable[[torch.Tensor, torch.Tensor | None], np.ndarray]:
    dtype = DTYPES[precision]

    @torch.inference_mode()
    def forward(z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        z = z.to(device)
        y = labels.to(device) if labels is not None else None
        # autocast keeps batch-norm and the tanh in fp32 and runs convolutions and the projection in `dtype`
        ctx = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
        with ctx:
            out = generator(z, y)
        return imaging.to_uint8(out)

    return forward


def _probe_inputs(latent_dim: int, classes: list[str] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = seed_latents(PROBE_SEEDS, latent_dim)
    labels = torch.arange(len(PROBE_SEEDS)) % len(classes) if classes else None
    return z, labels


def _one_by_one(forward, z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    return np.concatenate([forward(z[i : i + 1], None if labels is None else labels[i : i + 1])
                           for i in range(len(z))])


def _batch_invariant(forward, z: torch.Tensor, labels: torch.Tensor | None, alone: np.ndarray) -> bool:
    # the whole probe at once, and in uneven chunks so that rows land at other positions of other batch sizes
    if not np.array_equal(forward(z, labels), alone):
        return False
    chunks = [forward(z[i : i + 3], None if labels is None else labels[i : i + 3]) for i in range(0, len(z), 3)]
    return np.array_equal(np.concatenate(chunks), alone)


def _same_bytes(candidate, z: torch.Tensor, labels: torch.Tensor | None, alone: np.ndarray, what: str) -> bool:
    """`candidate` renders the probe as the module it replaces did, alone, as one batch and in chunks; a trace
    that kept a shape of its example (a batch size taken as a constant), or a cast layer autocast does not
    cast (mixed dtypes), fails here rather than in a request."""
    try:
        return np.array_equal(_one_by_one(candidate, z, labels), alone) and _batch_invariant(
            candidate, z, labels, alone)
    except RuntimeError as e:
        log.info("%s does not render the probe's bytes (%s): not used", what, e)
        return False


def precision_candidates(setting: str, device: torch.device) -> list[str]:
    """Precisions to try in order; fp32 is always the last resort."""
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}; valid: {', '.join(PRECISIONS)}")
    if setting == "auto":
        if device.type == "cuda":
            return ["bf16", "fp16", "fp32"] if torch.cuda.is_bf16_supported() else ["fp16", "fp32"]
        # bf16 pays on CPUs with native bf16 (AVX-512 BF16, AMX); elsewhere it is emulated and slower than fp32
        return ["bf16", "fp32"] if cpu_has_native_bf16() else ["fp32"]
    return [setting] if setting == "fp32" else [setting, "fp32"]


def prepare(generator: nn.Module, device: torch.device, latent_dim: int, classes: list[str] | None,
            precision: str = "auto", tolerance: int = 4, channels_last: bool = True,
            use_graph: bool = True) -> Prepared:
    """Choose precision and layout by the probes above; `precision` other than auto is still probed for
    faithfulness, and falls back to fp32 when its images drift more than `tolerance`."""
    generator = generator.eval().requires_grad_(False)
    if channels_last:
        generator = generator.to(memory_format=torch.channels_last)
    z, labels = _probe_inputs(latent_dim, classes)
    reference = _runner(generator, device, "fp32")(z, labels)
    for candidate in precision_candidates(precision, device):
        try:
            images = _runner(generator, device, candidate)(z, labels)
        except RuntimeError as e:  # e.g. fp16 convolutions missing on this device
            log.info("precision %s unavailable: %s", candidate, e)
            continue
        diff = int(np.abs(images.astype(np.int16) - reference.astype(np.int16)).max())
        if candidate != "fp32" and diff > tolerance:
            log.info("precision %s drifts %d levels from fp32 (tolerance %d): not used", candidate, diff, tolerance)
            continue
        # fp32 GEMM is never trusted plain: a probe of a few latents passed on a model whose 1 image in 256
        # still changed between batch sizes; row by row is batch-invariant by construction
        for rowwise in ((True,) if candidate == "fp32" else (False, True)):
            module = _rowwise(generator) if rowwise else generator
            forward = _runner(module, device, candidate)
            alone = _one_by_one(forward, z, labels)
            if _batch_invariant(forward, z, labels, alone):
                module, forward, cast = _with_cast_weights(module, device, candidate, forward, z, labels, alone)
                graph = graph_forward(module, device, DTYPES[candidate], forward, z, labels) if use_graph else None
                if graph is not None and _same_bytes(graph, z, labels, alone, "traced generator"):
                    return Prepared(graph, candidate, True, rowwise, diff, graph=True, cast_weights=cast)
                return Prepared(forward, candidate, True, rowwise, diff, cast_weights=cast)
        log.warning("generator is not batch-invariant at %s: every image will run alone", candidate)
        return Prepared(_runner(generator, device, candidate), candidate, False, False, diff)
    raise AssertionError("fp32 is always a candidate")


def preparer(precision_for: Callable[[str], str], tolerance: int, channels_last: bool, use_graph: bool = True):
    """The pool's prepare hook: what the API and the local CLI both load models with, so they agree on bytes."""

    def prepare_loaded(loaded) -> Prepared:  # app.pool.LoadedModel; not imported here, the pool imports us
        return prepare(loaded.generator, loaded.device, loaded.latent_dim, loaded.classes,
                       precision_for(loaded.name), tolerance, channels_last, use_graph)

    return prepare_loaded


def serving_device(settings) -> tuple[torch.device, torch.dtype]:
    """The device of `settings.device` and the precision tried first there (each model's own is chosen when it
    loads); a RuntimeError naming the setting when either is wrong."""
    try:
        device = resolve_device(settings.device)
    except DeviceUnavailable as e:  # refuse to start: a GPU replica silently on CPU would be a surprise
        raise RuntimeError(f"GAN_DEVICE: {e}") from None
    try:
        return device, DTYPES[precision_candidates(settings.inference_precision, device)[0]]
    except ValueError as e:
        raise RuntimeError(f"GAN_INFERENCE_PRECISION: {e}") from None


def forward_images(model, latents: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    """One forward pass of a loaded model (app.pool.LoadedModel) in the caller's thread -> (N, H, W, C) uint8; an
    unbatchable model renders its images one at a time."""
    prepared = model.prepared
    if prepared is None:  # a model the pool did not prepare: as loaded, under its dtype
        with torch.inference_mode(), autocast(model.device, model.dtype):
            y = None if labels is None else labels.to(model.device)
            return imaging.to_uint8(model.generator(latents.to(model.device), y).float())
    if prepared.batchable or len(latents) == 1:
        return prepared.forward(latents, labels)
    return np.concatenate([prepared.forward(latents[i : i + 1], None if labels is None else labels[i : i + 1])
                           for i in range(len(latents))])

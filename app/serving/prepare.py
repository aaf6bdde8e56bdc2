"""Preparing a loaded generator for serving: precision, memory format and batch-invariance, chosen by measurement.

Each version is prepared once, when it loads. Two probes run on fixed latents:
- precision: a lower precision (bf16 on CPU; fp16 or bf16 on CUDA) is kept only when its images differ from
  the fp32 images by at most PRECISION_TOLERANCE levels of 255 on every pixel after uint8 quantisation;
- batch invariance: the images of the probe rendered one at a time must equal, byte for byte, the same
  latents rendered as one batch. fp32 GEMM (the generator's first, linear layer) picks a different kernel for
  one row than for many and can flip a pixel by one level, so in fp32 the linear layers are computed row by
  row; a lower precision is tried as it is, then row by row; a model that still differs is unbatchable and
  every image then runs alone.
In a lower precision the convolution and linear weights are then cast once, where that gives the same bytes
(autocast under inference mode casts them at every call). Where it gives the same bytes, the chosen
computation then runs as a traced TorchScript graph (`graphs.py`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from dataclasses import dataclass, fields
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.serving.graphs import graph_forward
from models import images as imaging
from models.devices import PRECISIONS, cpu_has_native_bf16
from models.latents import NORMAL, Prior

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# fixed, so a version is always prepared the same way; few, as the probe runs on every load and a hot swap waits
PROBE_SEEDS = list(range(900_000, 900_008))
# the largest per-pixel difference from fp32 (levels of 255) a lower precision may show on the probe: a level or
# two of rounding is invisible, a drifting model is not (docs/benchmarks.md, Precision)
PRECISION_TOLERANCE = 4

Forward = Callable[[torch.Tensor, Optional[torch.Tensor]], np.ndarray]


def _scripted(fn):
    """`fn` compiled by TorchScript, else as it is (a torch that drops TorchScript serves eagerly)."""
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


@dataclass(frozen=True)
class Prepared:
    """A generator ready to serve: `forward` maps (N, latent_dim) latents and labels to (N, H, W, C) uint8."""

    forward: Forward
    precision: str
    batchable: bool  # False: run every image alone to keep seeds byte-stable
    rowwise_linear: bool
    max_pixel_diff: int  # largest per-pixel difference from fp32 on the probe, in levels of 255
    graph: bool = False  # runs as a traced TorchScript graph
    cast_weights: bool = False  # convolution and linear weights held in `precision` (see _with_cast_weights)

    def choices(self) -> dict:
        """What the probes chose, as plain data (everything but `forward`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "forward"}

    def images(self, latents: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        """(N, latent_dim) -> (N, H, W, C) uint8, in one forward where the model is batchable."""
        if self.batchable or len(latents) == 1:
            return self.forward(latents, labels)
        return np.concatenate([self.forward(latents[i : i + 1], None if labels is None else labels[i : i + 1])
                               for i in range(len(latents))])


def _runner(generator: nn.Module, device: torch.device, precision: str) -> Forward:
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


def _with_cast_weights(module: nn.Module, device: torch.device, precision: str, forward: Forward, z: torch.Tensor,
                       labels: torch.Tensor | None, alone: np.ndarray) -> tuple[nn.Module, Forward, bool]:
    """A copy of `module` whose convolution and linear weights are held in the reduced precision, with its
    forward, when it renders the probe's bytes exactly as `module` does; else `module` and `forward` as they
    are. Under inference mode autocast keeps no cache, so it cast every weight at every call; cast once, the
    same kernels get the same values."""
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


def _probe_inputs(latent_dim: int, classes: list[str] | None,
                  prior: Prior = NORMAL) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = prior.seed_latents(PROBE_SEEDS, latent_dim)  # what the version is served: its own prior's latents
    labels = torch.arange(len(PROBE_SEEDS)) % len(classes) if classes else None
    return z, labels


def _one_by_one(forward: Forward, z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    return np.concatenate([forward(z[i : i + 1], None if labels is None else labels[i : i + 1])
                           for i in range(len(z))])


def _batch_invariant(forward: Forward, z: torch.Tensor, labels: torch.Tensor | None, alone: np.ndarray) -> bool:
    # the whole probe at once, and in uneven chunks so that rows land at other positions of other batch sizes
    if not np.array_equal(forward(z, labels), alone):
        return False
    chunks = [forward(z[i : i + 3], None if labels is None else labels[i : i + 3]) for i in range(0, len(z), 3)]
    return np.array_equal(np.concatenate(chunks), alone)


def _same_bytes(candidate: Forward, z: torch.Tensor, labels: torch.Tensor | None, alone: np.ndarray,
                what: str) -> bool:
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
            precision: str = "auto", tolerance: int = PRECISION_TOLERANCE, trace: bool = True,
            prior: Prior = NORMAL) -> Prepared:
    """Choose precision and layout by the probes above; `precision` other than auto is still probed for
    faithfulness, and falls back to fp32 when its images drift more than `tolerance`. `trace=False` keeps the
    eager computation (what a graph's bytes are compared with). The probe draws latents of the version's
    `prior`."""
    generator = generator.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    z, labels = _probe_inputs(latent_dim, classes, prior)
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
                graph = graph_forward(module, device, DTYPES[candidate], forward, z, labels) if trace else None
                if graph is not None and _same_bytes(graph, z, labels, alone, "traced generator"):
                    return Prepared(graph, candidate, True, rowwise, diff, graph=True, cast_weights=cast)
                return Prepared(forward, candidate, True, rowwise, diff, cast_weights=cast)
        log.warning("generator is not batch-invariant at %s: every image will run alone", candidate)
        return Prepared(_runner(generator, device, candidate), candidate, False, False, diff)
    raise AssertionError("fp32 is always a candidate")

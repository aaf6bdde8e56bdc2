"""A served generator as ONNX, for in-browser (onnxruntime-web) and other runtimes, checked against PyTorch.

Inputs: `z` (N, latent_dim) float32 and, for conditional models, `labels` (N,) int64 class indices.
Output: `images` (N, C, H, W) float32 in [-1, 1]. The batch axis is dynamic. The model's name, version,
latent size and classes travel in the file's metadata_props. `onnx` and `onnxruntime` are imported only
here, so the service itself never needs them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.latents import seed_latents

OPSET = 17


@dataclass(frozen=True)
class Check:
    images: int
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def _example_inputs(metadata: dict[str, Any], n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = seed_latents(list(range(n)), int(metadata["latent_dim"]))
    classes = metadata.get("classes")
    labels = torch.arange(n, dtype=torch.long) % len(classes) if classes else None
    return z, labels


def export_onnx(generator: nn.Module, metadata: dict[str, Any], path: Path, model: str, version: str,
                opset: int = OPSET) -> Path:
    """Write `generator` (in eval mode) to `path`."""
    import onnx  # the TorchScript exporter needs it; imported here so serving never does

    generator = generator.eval()
    z, labels = _example_inputs(metadata, 2)
    conditional = labels is not None
    args = (z, labels) if conditional else (z,)
    names = ["z", "labels"] if conditional else ["z"]
    axes = {name: {0: "n"} for name in [*names, "images"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the TorchScript path (dynamo=False) needs no onnxscript; torch warns that it is the legacy one
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(generator, args, str(path), input_names=names, output_names=["images"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    props = {"model": model, "version": version,
             "latent_dim": str(metadata["latent_dim"]), "classes": json.dumps(metadata.get("classes")),
             "output_range": "[-1, 1]", "layout": "NCHW"}
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(path))
    return path


@torch.inference_mode()
def check_onnx(path: Path, generator: nn.Module, metadata: dict[str, Any], n: int = 8,
               tolerance: float = 1e-4) -> Check:
    """Run the file in onnxruntime and PyTorch on the same `n` seeded latents; compare the images."""
    import onnxruntime

    z, labels = _example_inputs(metadata, n)
    expected = generator.eval()(z, labels).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"z": z.numpy()}
    if labels is not None:
        feed["labels"] = labels.numpy()
    (got,) = session.run(["images"], feed)
    return Check(n, float(np.abs(got - expected).max()), tolerance)

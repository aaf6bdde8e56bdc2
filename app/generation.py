"""Turning requests into latents and labels, running the generator, and shaping images.

Every check a client can fail raises InvalidRequest naming the field, before any forward pass runs.
"""

from __future__ import annotations

import base64
import secrets

import numpy as np
import torch

from app import batcher as batching
from app.engine import Engine
from app.errors import InvalidRequest
from app.pool import LoadedModel
from models import images as imaging
from models.latents import seed_latents, truncate, walk

MAX_ABS_LATENT = 1e3  # a Gaussian prior never comes near; larger values only overflow


def check_latents(rows: list[list[float]], loaded: LoadedModel, field: str) -> torch.Tensor:
    for i, row in enumerate(rows):
        if len(row) != loaded.latent_dim:
            raise InvalidRequest(f"{field}.{i}", f"latent has {len(row)} values; model {loaded.name!r} "
                                 f"takes {loaded.latent_dim}")
    latents = torch.tensor(rows, dtype=torch.float32)
    if not torch.isfinite(latents).all() or latents.abs().max() > MAX_ABS_LATENT:
        raise InvalidRequest(field, f"latent values must be finite numbers within +-{MAX_ABS_LATENT:g}")
    return latents


def label_index(label: int | str, loaded: LoadedModel, field: str) -> int:
    classes = loaded.classes
    if not classes:
        raise InvalidRequest(field, f"model {loaded.name!r} is unconditional: leave out labels")
    if isinstance(label, int):
        if not 0 <= label < len(classes):
            raise InvalidRequest(field, f"class index {label} is out of range 0..{len(classes) - 1}")
        return label
    if label in classes:
        return classes.index(label)
    raise InvalidRequest(field, f"unknown class {label!r}; valid: {', '.join(classes)}")


def resolve_labels(labels: list[int | str] | None, count: int, loaded: LoadedModel, field: str = "labels"
                   ) -> torch.Tensor | None:
    """One label per image, or one for all; required for conditional models, refused otherwise."""
    if labels is None:
        if loaded.conditional:
            raise InvalidRequest(field, f"model {loaded.name!r} is conditional: give a class name or index "
                                 f"({', '.join(loaded.classes)})")
        return None
    if len(labels) not in (1, count):
        raise InvalidRequest(field, f"give one label for all images or one per image ({count}), not {len(labels)}")
    indices = [label_index(label, loaded, f"{field}.{i}") for i, label in enumerate(labels)]
    # via numpy: torch.tensor() on a list costs far more per call on a busy event loop
    return torch.from_numpy(np.asarray(indices * count if len(indices) == 1 else indices, dtype=np.int64))


def seed_label(label: str | None, loaded: LoadedModel) -> int | None:
    """A seed URL's `label` parameter (a class name, or an index in decimal) as a class index."""
    if label is None:
        resolve_labels(None, 1, loaded, "label")  # refuses a conditional model's missing label
        return None
    return label_index(int(label) if label.isdigit() else label, loaded, "label")


def random_seeds(n: int) -> list[int]:
    return [secrets.randbelow(2**31) for _ in range(n)]


def latents_for(loaded: LoadedModel, latents: list[list[float]] | None, seeds: list[int] | None,
                field: str) -> torch.Tensor:
    if latents is not None:
        return check_latents(latents, loaded, field)
    assert seeds is not None
    return seed_latents(seeds, loaded.latent_dim)


def render(loaded: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None, truncation: float = 1.0
           ) -> np.ndarray:
    """(N, latent_dim) latents -> (N, H, W, C) uint8 images, in the caller's thread (tools and tests; routes
    use render_batched)."""
    return batching.run(loaded, truncate(latents, truncation), labels)


async def render_batched(batcher: Engine, loaded: LoadedModel, latents: torch.Tensor,
                         labels: torch.Tensor | None, truncation: float = 1.0) -> np.ndarray:
    """The same images, computed on the inference thread, possibly in one forward with other requests."""
    return await batcher.render(loaded, truncate(latents, truncation), labels)


async def render_png(batcher: Engine, loaded: LoadedModel, latent: torch.Tensor,
                     labels: torch.Tensor | None, truncation: float = 1.0) -> bytes:
    """One image as PNG bytes, encoded by the engine with the rest of its batch (in the inference process, or on
    the inference thread's encoder thread: through the thread pool, one hand-off per request had cost more CPU
    than the encoding itself)."""
    return await batcher.render_png(loaded, truncate(latent, truncation), labels)


def interpolation_latents(loaded: LoadedModel, start, end, steps: int, method: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents of a walk and, for conditional models, class vectors walked the same way."""
    a, b = (latents_for(loaded, None if e.latent is None else [e.latent], None if e.seed is None else [e.seed],
                        f"{f}.latent")[0] for e, f in ((start, "start"), (end, "end")))
    z = walk(a, b, steps, method)
    labels = None
    if loaded.conditional or start.label is not None or end.label is not None:
        ya = resolve_labels([start.label] if start.label is not None else None, 1, loaded, "start.label")
        yb = resolve_labels([end.label] if end.label is not None else None, 1, loaded, "end.label")
        t = torch.linspace(0, 1, steps)[:, None]
        n = len(loaded.classes)
        labels = (1 - t) * torch.nn.functional.one_hot(ya, n) + t * torch.nn.functional.one_hot(yb, n)
    return z, labels


def png_b64(image: np.ndarray) -> str:
    return base64.b64encode(imaging.encode_png(image)).decode()


def class_name(loaded: LoadedModel, index: int | None) -> str | None:
    return loaded.classes[index] if index is not None and loaded.classes else None

"""What the routes need of a serving engine: images, single PNGs and seed URLs' PNGs, micro-batched.

Two engines implement it: `app/process_engine.py` (the default) runs forwards in an inference process beside
the API; `app/batcher.py` runs them on an inference thread of the API process (GAN_INFERENCE_PROCESS=false).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

    from app.pool import LoadedModel


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    largest: int = 0


def labels_kind(labels: torch.Tensor | None) -> tuple | None:
    """Rows are concatenated into one forward only when their labels are of one kind: none, class indices, or
    class vectors of one width."""
    return None if labels is None else (labels.dtype.is_floating_point, tuple(labels.shape[1:]))


def settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    """A request's outcome, on its loop; nothing when the client went away and the request was cancelled."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def take_batch(waiting: deque, max_batch: int, shared: bool) -> list:
    """The oldest waiting job and, when its model may share a forward, every waiting job with the same `key`
    that fits within `max_batch` rows; the others keep their place in line (another version, or too big)."""
    first = waiting.popleft()
    group, size = [first], first.rows
    if shared:
        skipped = []
        while waiting and size < max_batch:
            job = waiting.popleft()
            if job.key == first.key and size + job.rows <= max_batch:
                group.append(job)
                size += job.rows
            else:
                skipped.append(job)
        waiting.extendleft(reversed(skipped))
    return group


class Engine(Protocol):
    stats: BatchStats

    async def render(self, model: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        """(n, latent_dim) latents, truncation applied -> (n, H, W, C) uint8 images."""

    async def render_png(self, model: LoadedModel, latent: torch.Tensor, labels: torch.Tensor | None) -> bytes:
        """One latent -> its image as PNG bytes."""

    async def render_seed_png(self, model: LoadedModel, seed: int, label: int | None, truncation: float) -> bytes:
        """A seed URL's image as PNG bytes: the same bytes as render_png of the seed's truncated latent."""

    def describe(self) -> dict:
        """How it runs, for /readyz."""

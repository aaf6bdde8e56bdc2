"""Synthetic datasets: the job spec, each image's seed and label, and the images, generated in batches.

Image i of a dataset comes from seed `first_seed + i` and label `labels[i]`, as the seed URL
`/models/{model}/seeds/{seed}.png?label=...&truncation=...` makes it, so the manifest's seed range and labels
reproduce every image. The labels hold the class distribution exactly (largest remainders), in an order
shuffled by `first_seed`: a balanced 60,000 is 6,000 per class, and the same spec gives the same labels.
"""

from __future__ import annotations

from typing import Annotated, Iterator, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from models.images import to_uint8
from models.latents import NORMAL, Prior, truncate
from models.names import validate_model_name

FORMATS = ("png", "idx")  # a folder of PNGs with labels.csv, or Fashion-MNIST's IDX files; both in a .tar.gz
Format = Literal["png", "idx"]
BATCH_SIZE = 256
MAX_SEED = 2**63  # seeds are int64


class SynthesisSpec(BaseModel):
    """A dataset job as the worker runs it: the API has pinned the version and checked the classes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str
    version: str = Field(pattern=r"^\d+$", description="a concrete version, never an alias")
    n: Annotated[int, Field(ge=1)]
    # one weight per class of a conditional model (any positive scale), None for an unconditional one
    weights: list[Annotated[float, Field(ge=0)]] | None = None
    truncation: Annotated[float, Field(gt=0, le=2)] = 1.0
    first_seed: Annotated[int, Field(ge=0)] = 0
    format: Format = "png"
    ttl_s: Annotated[int, Field(ge=1)] = 7 * 24 * 3600  # how long the archive is kept once written

    @model_validator(mode="after")
    def _checked(self) -> "SynthesisSpec":
        validate_model_name(self.model)
        if self.weights is not None and sum(self.weights) <= 0:
            raise ValueError("the class weights sum to zero: give at least one class a positive weight")
        if self.first_seed + self.n > MAX_SEED:
            raise ValueError(f"seeds {self.first_seed}..{self.first_seed + self.n - 1} pass the largest seed, "
                             f"{MAX_SEED - 1}")
        return self

    @property
    def seeds(self) -> range:
        return range(self.first_seed, self.first_seed + self.n)


def class_counts(weights: list[float], n: int) -> np.ndarray:
    """Images per class: `n` split in proportion to `weights`, the remainder to the largest fractions."""
    share = n * np.asarray(weights, dtype=np.float64) / float(sum(weights))
    counts = np.floor(share).astype(np.int64)
    # a stable sort: equal fractions go to the lower class index first
    by_fraction = np.argsort(-(share - counts), kind="stable")
    counts[by_fraction[: n - int(counts.sum())]] += 1
    return counts


def draw_labels(weights: list[float], n: int, first_seed: int) -> np.ndarray:
    """(n,) int64 class indices holding `class_counts` exactly, in an order that depends only on the seed."""
    labels = np.repeat(np.arange(len(weights)), class_counts(weights, n))
    return np.random.default_rng(first_seed).permutation(labels)


def generate(generator: nn.Module, latent_dim: int, seeds: range, labels: np.ndarray | None, truncation: float,
             device: torch.device, batch_size: int = BATCH_SIZE, prior: Prior = NORMAL) -> Iterator[np.ndarray]:
    """The images of `seeds` (with `labels`, one per seed, for a conditional generator), as (B, H, W, C) uint8
    batches in order; each seed's latent drawn from the version's `prior`, as its seed URL draws it. fp32: the seed URLs serve fp32 or a precision probed to stay within a few levels of it."""
    for start in range(0, len(seeds), batch_size):
        batch = seeds[start : start + batch_size]
        z = truncate(prior.seed_latents(list(batch), latent_dim), truncation).to(device)  # (B, latent_dim)
        y = None if labels is None else torch.as_tensor(labels[start : start + len(batch)], device=device)
        with torch.inference_mode():
            yield to_uint8(generator(z, y))

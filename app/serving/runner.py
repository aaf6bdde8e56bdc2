"""Where forwards run: versions loaded from the registry and prepared once (an LRU), jobs rendered, and the
discriminators' features (their networks loaded on first use, in an LRU of their own).

The inference process serves the API with a runner; `gan generate --local` and the tests use one in their own
process, so every image comes from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from cachetools import LRUCache

from app.serving.encoding import encode
from app.serving.job import FeatureJob, Job, batch_inputs
from app.serving.prepare import Prepared, prepare
from models import images as imaging
from models.checkpoint import load_discriminator, load_generator
from models.latents import prior_of
from models.registry import Registry

@dataclass(frozen=True)
class Loaded:
    """A version ready to render: its metadata and its prepared forward (the fp32 generator is not kept)."""

    name: str
    version: str
    metadata: dict[str, Any]
    prepared: Prepared

    @property
    def latent_dim(self) -> int:
        return int(self.metadata["latent_dim"])

    @property
    def classes(self) -> list[str] | None:
        return self.metadata.get("classes")


class Runner:
    def __init__(self, registry: Registry, device: torch.device, cache_size: int = 3,
                 precision_for: Callable[[str], str] = lambda model: "auto"):
        self.registry, self.device, self.precision_for = registry, device, precision_for
        self._loaded: LRUCache[tuple[str, str], Loaded] = LRUCache(maxsize=max(1, cache_size))
        self._discriminators: LRUCache[tuple[str, str], torch.nn.Module] = LRUCache(maxsize=max(1, cache_size))

    def get(self, model: str, version: str) -> Loaded:
        """A concrete version, loaded and prepared on first use: CheckpointError for a broken one,
        VersionNotFound for a missing one, OSError while the registry cannot be read."""
        key = (model, version)
        loaded = self._loaded.get(key)
        if loaded is None:
            generator, metadata = load_generator(self.registry.path(model, version), self.device)
            prepared = prepare(generator, self.device, int(metadata["latent_dim"]), metadata.get("classes"),
                               self.precision_for(model), prior=prior_of(metadata))
            loaded = self._loaded[key] = Loaded(model, version, metadata, prepared)
        return loaded

    def load(self, model: str, version: str) -> dict:
        """What the API's catalog keeps of a version: its metadata and the probes' choices."""
        loaded = self.get(model, version)
        return {"metadata": loaded.metadata, "choices": loaded.prepared.choices()}

    def check(self, model: str, version: str) -> None:
        """Load a version without keeping it, to find out whether it is valid (CheckpointError if not)."""
        load_generator(self.registry.path(model, version), "cpu")  # a truncated file can carry a matching hash

    def images(self, loaded: Loaded, jobs: list[Job]) -> np.ndarray:
        """Every job's rows, in one forward where the version allows it -> (rows, H, W, C) uint8."""
        return loaded.prepared.images(*batch_inputs(jobs, loaded.latent_dim, prior_of(loaded.metadata)))

    def features(self, model: str, version: str, jobs: list[FeatureJob]) -> list[np.ndarray]:
        """Each job's discriminator features, (rows, features) float32, from one forward."""
        key = (model, version)
        discriminator = self._discriminators.get(key)
        if discriminator is None:
            discriminator, _ = load_discriminator(self.registry.path(model, version), self.device)
            self._discriminators[key] = discriminator
        images = torch.from_numpy(np.concatenate([job.images for job in jobs]))
        x = imaging.from_uint8(images).to(self.device)
        labels = None
        if jobs[0].labels is not None:
            labels = torch.tensor([label for job in jobs for label in job.labels], dtype=torch.int64, device=self.device)
        with torch.inference_mode():
            rows = discriminator.features(x, labels).float().cpu().numpy()
        return np.split(rows, np.cumsum([job.rows for job in jobs])[:-1])

    def render(self, model: str, version: str, jobs: list[Job]) -> list[list[bytes]]:
        """Each job's answer (`encoding.encode`), its images drawn together."""
        return encode_jobs(jobs, self.images(self.get(model, version), jobs))


def encode_jobs(jobs: list[Job], images: np.ndarray) -> list[list[bytes]]:
    """Each job's share of a batch's images, encoded as it asked."""
    answers, start = [], 0
    for job in jobs:
        answers.append(encode(images[start : start + job.rows], job.output, job.columns))
        start += job.rows
    return answers

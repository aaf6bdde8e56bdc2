"""Where forwards run: versions loaded from the registry and prepared once (an LRU), jobs rendered, the
discriminators' features, and looks inside the networks (filters, one layer's activations). The last two need
the fp32 modules, which the prepared forward does not keep: they are loaded on first use, in an LRU of their own.

The inference process serves the API with a runner; `gan generate --local` and the tests use one in their own
process, so every image comes from the same code.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from cachetools import LRUCache

from app.serving.encoding import encode
from app.serving.job import FeatureJob, Job, batch_inputs
from app.serving.prepare import Prepared, prepare
from models import images as imaging
from models import inspection, projection
from models.checkpoint import has_discriminator, load_discriminator, load_generator
from models.latents import prior_of
from models.registry import Registry

NETWORKS = {"generator": load_generator, "discriminator": load_discriminator}  # a version's fp32 modules by role


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
        # fp32 networks by (model, version, "generator" or "discriminator"), with the version's metadata
        self._networks: LRUCache[tuple[str, str, str], tuple[torch.nn.Module, dict]] = LRUCache(
            maxsize=2 * max(1, cache_size))
        self._networks_lock = threading.Lock()

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

    def network(self, model: str, version: str, role: str) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The version's fp32 generator or discriminator (`role`) and its metadata, loaded on first use."""
        key = (model, version, role)
        with self._networks_lock:  # projections ask from their own thread
            found = self._networks.get(key)
            if found is None:
                found = self._networks[key] = NETWORKS[role](self.registry.path(model, version), self.device)
        return found

    def project(self, model: str, version: str, image: np.ndarray, label: int | None, steps: int,
                seconds: float) -> tuple[np.ndarray, dict[str, Any]]:
        """The latent whose rendering matches `image` ((H, W, C) uint8; models.projection), its rendering, and the
        loss at every step. On copies of the networks: a look inside hooks the shared ones while this runs."""
        generator, metadata = self.network(model, version, "generator")
        discriminator = self.network(model, version, "discriminator")[0] if has_discriminator(metadata) else None
        generator, discriminator = copy.deepcopy(generator), copy.deepcopy(discriminator)
        target = imaging.from_uint8(torch.from_numpy(image[None])).to(self.device)[0]
        labels = None if label is None else torch.tensor(label, device=self.device)
        found = projection.project(generator, target, int(metadata["latent_dim"]), labels, discriminator, steps,
                                   seconds, prior=prior_of(metadata))
        reconstruction = found.pixels()
        return reconstruction, {"latent": found.latent.cpu().tolist(), "losses": found.losses, "steps": found.steps,
                                "seconds": round(found.seconds, 3), "mse": projection.pixel_mse(reconstruction, image),
                                "loss": found.loss}

    def features(self, model: str, version: str, jobs: list[FeatureJob]) -> list[np.ndarray]:
        """Each job's discriminator features, (rows, features) float32, from one forward."""
        discriminator, _ = self.network(model, version, "discriminator")
        images = torch.from_numpy(np.concatenate([job.images for job in jobs]))
        x = imaging.from_uint8(images).to(self.device)
        labels = None
        if jobs[0].labels is not None:
            labels = torch.tensor([label for job in jobs for label in job.labels], dtype=torch.int64, device=self.device)
        with torch.inference_mode():
            rows = discriminator.features(x, labels).float().cpu().numpy()
        return np.split(rows, np.cumsum([job.rows for job in jobs])[:-1])

    def filters(self, model: str, version: str) -> tuple[np.ndarray, dict[str, Any]]:
        """The filters nearest the image (`inspection.filter_panels`) and what the picture shows; the
        generator's alone when the version keeps no discriminator."""
        generator, metadata = self.network(model, version, "generator")
        discriminator = self.network(model, version, "discriminator")[0] if has_discriminator(metadata) else None
        image, pictures = inspection.filter_panels(generator, discriminator)
        panels = {role: {"shown": p.shown, "total": p.total, "scale": p.scale}
                  for role, p in zip(("generator", "discriminator"), pictures)}
        return image, {"panels": panels}

    def activations(self, model: str, version: str, layer: str | None, seed: int | None,
                    latent: list[float] | None, label: int | None) -> tuple[np.ndarray, dict[str, Any]]:
        """One layer's maps for one latent (`inspection.layer_maps`; the first layer when None) and every layer's
        (C, H, W). UnknownLayer for a name the generator lacks."""
        generator, metadata = self.network(model, version, "generator")
        latent_dim = int(metadata["latent_dim"])
        if latent is None:
            z = prior_of(metadata).seed_latents([seed], latent_dim)
        else:
            z = torch.tensor([latent], dtype=torch.float32)
        labels = None if label is None else torch.tensor([label], dtype=torch.int64, device=self.device)
        layer = layer or inspection.layer_names(generator)[0]
        picture, shapes = inspection.layer_maps(generator, z.to(self.device), labels, layer)
        layers = [{"name": name, "shape": list(shape)} for name, shape in shapes.items()]
        return picture.image, {"layer": layer, "layers": layers, "shown": picture.shown, "channels": picture.total,
                               "scale": picture.scale}

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

"""One request's rows, as the engine batches them and the inference process runs them, and their form on the socket.

A `Job` (op `render`) names the images to draw by `seeds` (their latents are drawn where the forward runs, so the
API makes no tensor for them) or by `latents`, with class indices or class vectors (a walk between classes) as
labels, and says what its images become (`encoding.OUTPUTS`). A `FeatureJob` (op `features`) carries images for
the discriminator's features. Jobs of one version, one op and one `batch_key` share a forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from models.latents import Prior, truncate


@dataclass(eq=False)
class Job:
    op: ClassVar[str] = "render"
    seeds: list[int] | None = None
    latents: np.ndarray | None = None  # (rows, latent_dim) float32
    labels: list[int] | np.ndarray | None = None  # one class index per row, or (rows, classes) float32 vectors
    truncation: float = 1.0
    output: str = "png"
    columns: int | None = None  # of a grid, when `output` is png and there are several images

    @property
    def rows(self) -> int:
        return len(self.seeds) if self.seeds is not None else len(self.latents)

    @property
    def batch_key(self) -> tuple | None:
        """Rows share a forward only with rows whose labels are of the same kind."""
        if self.labels is None:
            return None
        return ("vectors", self.labels.shape[1]) if isinstance(self.labels, np.ndarray) else ("indices",)

    # the socket: a JSON header per job, and its arrays as raw float32 bytes in the frame's payload, in job order;
    # what a job leaves at its default stays out of its header, as most jobs are one seed URL

    def header(self) -> dict:
        header: dict = {"seeds": self.seeds} if self.seeds is not None else {"latents": list(self.latents.shape)}
        if isinstance(self.labels, np.ndarray):
            header["vectors"] = list(self.labels.shape)
        elif self.labels is not None:
            header["labels"] = self.labels
        if self.truncation != 1.0:
            header["truncation"] = self.truncation
        if self.output != "png":
            header["output"] = self.output
        if self.columns is not None:
            header["columns"] = self.columns
        return header

    def arrays(self) -> list[bytes]:
        arrays = [a for a in (self.latents, self.labels) if isinstance(a, np.ndarray)]
        return [np.ascontiguousarray(a, dtype=np.float32).tobytes() for a in arrays]

    @classmethod
    def from_wire(cls, header: dict, payload: memoryview, offset: int) -> tuple[Job, int]:
        """The job whose arrays start at `offset` of the payload, and where the next job's start."""
        latents, labels = None, header.get("labels")
        if "latents" in header:
            latents, offset = _array(payload, offset, header["latents"])
        if "vectors" in header:
            labels, offset = _array(payload, offset, header["vectors"])
        job = cls(seeds=header.get("seeds"), latents=latents, labels=labels, truncation=header.get("truncation", 1.0),
                  output=header.get("output", "png"), columns=header.get("columns"))
        return job, offset


@dataclass(eq=False)
class FeatureJob:
    """Images for the discriminator: (rows, height, width, channels) uint8, one class index per row for a
    conditional model. Answered with (rows, features) float32."""

    op: ClassVar[str] = "features"
    images: np.ndarray
    labels: list[int] | None = None

    @property
    def rows(self) -> int:
        return len(self.images)

    @property
    def batch_key(self) -> tuple:
        return ("labels",) if self.labels is not None else ()

    def header(self) -> dict:
        header: dict = {"images": list(self.images.shape)}
        if self.labels is not None:
            header["labels"] = self.labels
        return header

    def arrays(self) -> list[bytes]:
        return [np.ascontiguousarray(self.images, dtype=np.uint8).tobytes()]

    @classmethod
    def from_wire(cls, header: dict, payload: memoryview, offset: int) -> tuple[FeatureJob, int]:
        shape = header["images"]
        end = offset + int(np.prod(shape))
        images = np.frombuffer(payload[offset:end], dtype=np.uint8).reshape(shape).copy()
        return cls(images=images, labels=header.get("labels")), end


JOBS = {job.op: job for job in (Job, FeatureJob)}


def batch_inputs(jobs: list[Job], latent_dim: int, prior: Prior) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The jobs' rows as one (rows, latent_dim) batch of latents, seeds drawn from the version's `prior` and
    each job's truncation applied, and their labels as one tensor; seeds are drawn together, as one seed URL
    after another make most batches."""
    if all(job.seeds is not None for job in jobs):
        z = prior.seed_latents([seed for job in jobs for seed in job.seeds], latent_dim)
        start = 0
        for job in jobs:
            if job.truncation != 1.0:  # the same values as truncate() gives the job's rows alone
                z[start : start + job.rows] = truncate(z[start : start + job.rows], job.truncation)
            start += job.rows
    else:
        z = torch.cat([truncate(prior.seed_latents(job.seeds, latent_dim) if job.seeds is not None
                                else torch.from_numpy(job.latents), job.truncation) for job in jobs])
    first = jobs[0].labels
    if first is None:
        return z, None
    if isinstance(first, np.ndarray):
        return z, torch.from_numpy(np.concatenate([job.labels for job in jobs]))
    return z, torch.tensor([label for job in jobs for label in job.labels], dtype=torch.int64)


def _array(payload: memoryview, offset: int, shape: list[int]) -> tuple[np.ndarray, int]:
    end = offset + int(np.prod(shape)) * 4
    return np.frombuffer(payload[offset:end], dtype=np.float32).reshape(shape).copy(), end

"""One request's images, as the engine batches them and the runner draws them, and its form on the socket.

A job names its rows by `seeds` (their latents are drawn where the forward runs, so the API makes no tensor for
them) or by `latents`, with class indices or class vectors (a walk between classes) as labels, and says what its
images become (`encoding.OUTPUTS`). Jobs of one version whose labels are of one kind share a forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.latents import seed_latents, truncate


@dataclass(eq=False)
class Job:
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
    def labels_kind(self) -> tuple | None:
        """Rows share a forward only with rows whose labels are of the same kind."""
        if self.labels is None:
            return None
        return ("vectors", self.labels.shape[1]) if isinstance(self.labels, np.ndarray) else ("indices",)

    def inputs(self, latent_dim: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(rows, latent_dim) latents, truncation applied, and the labels as tensors."""
        if self.seeds is not None:
            z = seed_latents(self.seeds, latent_dim)
        else:
            z = torch.from_numpy(self.latents)
        z = truncate(z, self.truncation)
        if self.labels is None:
            return z, None
        if isinstance(self.labels, np.ndarray):
            return z, torch.from_numpy(self.labels)
        return z, torch.tensor(self.labels, dtype=torch.int64)

    # the socket: a JSON header per job, and its arrays as raw float32 bytes in the frame's payload, in job order

    def header(self) -> dict:
        vectors = isinstance(self.labels, np.ndarray)
        return {"seeds": self.seeds, "latents": None if self.latents is None else list(self.latents.shape),
                "labels": list(self.labels.shape) if vectors else self.labels, "vectors": vectors,
                "truncation": self.truncation, "output": self.output, "columns": self.columns}

    def arrays(self) -> list[bytes]:
        arrays = [a for a in (self.latents, self.labels) if isinstance(a, np.ndarray)]
        return [np.ascontiguousarray(a, dtype=np.float32).tobytes() for a in arrays]

    @classmethod
    def from_wire(cls, header: dict, payload: memoryview, offset: int) -> tuple[Job, int]:
        """The job whose arrays start at `offset` of the payload, and where the next job's start."""
        latents, labels = None, header["labels"]
        if header["latents"] is not None:
            latents, offset = _array(payload, offset, header["latents"])
        if header["vectors"]:
            labels, offset = _array(payload, offset, header["labels"])
        job = cls(seeds=header["seeds"], latents=latents, labels=labels, truncation=header["truncation"],
                  output=header["output"], columns=header["columns"])
        return job, offset


def _array(payload: memoryview, offset: int, shape: list[int]) -> tuple[np.ndarray, int]:
    end = offset + int(np.prod(shape)) * 4
    return np.frombuffer(payload[offset:end], dtype=np.float32).reshape(shape).copy(), end

"""Scoring checkpoints as they are published: metrics into the version's metadata, the guard, and `best`.

The training loop hands each checkpoint to the job's publish callback; before the version is written this
module evaluates its generator (time-bounded, N from the job spec) so the metrics land in metadata.json
inside the temporary directory and are published with it. After the publish it moves `best` when the
promotion rules allow. A failing evaluation never fails the training job: it is recorded as an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from models import quality
from models.architectures import get_architecture
from models.checkpoint import CheckpointError, read_metadata
from models.evaluation import Reference, dataset_reference, evaluate, fashion_mnist_reference
from models.evaluator import EvaluatorError
from models.latents import prior_of
from models.registry import Registry, VersionNotFound
from models.spec import TrainSpec
from worker.datasets import TrainingData

log = logging.getLogger(__name__)

REFERENCE_CACHE = ".reference"  # inside the registry root: cached real features per extractor version


def reference_for(dataset_kind: str, data: TrainingData | None, fashion_mnist_dir: Path,
                  registry_root: Path) -> Reference:
    """The shipped extractor for Fashion-MNIST; a fixed random network over the job's own images otherwise."""
    if dataset_kind == "fashion-mnist":
        return fashion_mnist_reference(fashion_mnist_dir, registry_root / REFERENCE_CACHE)
    if data is None:
        raise ValueError(f"dataset kind {dataset_kind!r} needs its images for a reference")
    return dataset_reference(data.images, data.description)


def generator_from_state(metadata: dict[str, Any], state: dict[str, torch.Tensor]) -> torch.nn.Module:
    generator = get_architecture(metadata["architecture"]).build_generator(metadata["generator_config"])
    generator.load_state_dict(state, strict=True)
    return generator.eval().requires_grad_(False)


def previous_metrics(registry: Registry, model: str, version: str | None) -> dict[str, Any] | None:
    if version is None:
        return None
    try:
        return read_metadata(registry.path(model, version)).get("metrics")
    except (CheckpointError, VersionNotFound, OSError):
        return None


# sampling time allowed when scoring one checkpoint, past which fewer samples are scored and the metrics say so:
# a job's default 2,000 samples take seconds on a CPU, so only a job that asks for tens of thousands meets it
SCORE_BUDGET_S = 120.0


class Scorer:
    def __init__(self, spec: TrainSpec, data: TrainingData, registry: Registry, fashion_mnist_dir: Path,
                 device: torch.device, budget_s: float = SCORE_BUDGET_S):
        self.spec, self.data, self.registry = spec, data, registry
        self.fashion_mnist_dir, self.budget_s, self.device = fashion_mnist_dir, budget_s, device
        self._reference: Reference | None = None

    @property
    def reference(self) -> Reference:
        if self._reference is None:
            self._reference = reference_for(self.spec.dataset.kind, self.data, self.fashion_mnist_dir,
                                            self.registry.root)
        return self._reference

    def score(self, metadata: dict[str, Any], generator_state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
        """Metrics of one checkpoint with its flags, or None when the job asked for no scoring."""
        if self.spec.eval_samples == 0:
            return None
        try:
            generator = generator_from_state(metadata, generator_state).to(self.device)
            num_classes = len(metadata["classes"]) if metadata.get("classes") else 0
            metrics = evaluate(generator, metadata["latent_dim"], num_classes, self.reference,
                               self.spec.eval_samples, seed=0, time_budget_s=self.budget_s, device=self.device,
                               prior=prior_of(metadata))
        except (EvaluatorError, ValueError, RuntimeError, OSError) as e:
            log.warning("could not score %s at step %s: %s", self.spec.model, metadata.get("step"), e)
            return {"error": f"evaluation failed: {e}", "flags": []}
        previous = previous_metrics(self.registry, self.spec.model, self.registry.latest(self.spec.model))
        metrics["flags"] = quality.flags(metrics, previous)
        return metrics

    def promote(self, version: str, metrics: dict[str, Any] | None) -> bool:
        """Make `version` best when its metrics beat the current best's beyond the noise."""
        incumbent = previous_metrics(self.registry, self.spec.model, self.registry.best(self.spec.model))
        if not quality.improves(metrics, incumbent):
            return False
        self.registry.set_best(self.spec.model, version)
        log.info("%s version %s is now best (FD %.3f at N=%d)", self.spec.model, version, metrics["fd"],
                 metrics["n"])
        return True

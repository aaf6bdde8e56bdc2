"""Scoring published checkpoints: metrics in the metadata, the promotion guard and the `best` pointer."""

import json

import torch

from models import checkpoint
from models.registry import Registry
from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.scoring import Scorer
from worker.trainer import Callbacks, Trainer

torch.set_num_threads(1)


def _spec(**fields) -> TrainSpec:
    return TrainSpec.model_validate({
        "model": "bars", "dataset": {"kind": "synthetic", "limit": 64}, "architecture": "cdcgan",
        "image_size": 16, "batch_size": 8, "steps": 4, "checkpoint_every": 2, "base_width": 8,
        "eval_samples": 200, **fields})


def _train(registry: Registry, spec: TrainSpec, scorer: Scorer, corrupt=lambda state: state) -> list[dict]:
    """Train for real; each checkpoint is scored, published with its metrics and maybe promoted."""
    scored = []

    def publish(c) -> str:
        state = corrupt(c.generator_state)
        metrics = scorer.score(c.metadata, state)
        version = registry.publish(spec.model, lambda d: checkpoint.write_checkpoint(
            d, {**c.metadata, "metrics": metrics}, state, c.training_state, c.training_info, c.samples_png))
        scored.append({"version": version, "metrics": metrics, "best": scorer.promote(version, metrics)})
        return version

    data = synthetic(spec.height, spec.width, spec.channels, count=64)
    Trainer(spec, data, Callbacks(publish=publish), torch.device("cpu")).run()
    return scored


def _scorer(registry: Registry, spec: TrainSpec) -> Scorer:
    data = synthetic(spec.height, spec.width, spec.channels, count=64)
    return Scorer(spec, data, registry, fashion_mnist_dir=registry.root / "none", budget_s=60,
                  device=torch.device("cpu"))


def test_every_published_checkpoint_carries_its_metrics_and_extractor(tmp_path):
    registry = Registry(tmp_path)
    spec = _spec()
    scored = _train(registry, spec, _scorer(registry, spec))
    metadata = checkpoint.read_metadata(registry.path("bars", scored[-1]["version"]))
    metrics = metadata["metrics"]
    assert metrics["n"] == 200 and metrics["extractor"].startswith("random-conv-seed0")
    assert metrics["fd"] >= 0 and 0 <= metrics["coverage"] <= 1 and isinstance(metrics["flags"], list)
    assert any("random network" in note for note in metrics["notes"])


def test_best_moves_to_a_healthy_checkpoint_and_only_beyond_the_noise(tmp_path):
    registry = Registry(tmp_path)
    spec = _spec(steps=4)
    scorer = _scorer(registry, spec)
    scored = _train(registry, spec, scorer)  # untrained: scored for real, likely flagged as collapsed
    first, second = (s["version"] for s in scored)
    healthy = {**scored[0]["metrics"], "fd": 10.0, "fd_noise": 1.0, "coverage": 0.9, "flags": []}
    assert scorer.promote(first, healthy) and registry.best("bars") == first
    checkpoint_dir = registry.path("bars", first)  # the incumbent's figures are read from its metadata
    metadata = checkpoint.read_metadata(checkpoint_dir)
    (checkpoint_dir / checkpoint.METADATA).write_text(json.dumps({**metadata, "metrics": healthy}))
    assert not scorer.promote(second, {**healthy, "fd": 9.5}) and registry.best("bars") == first
    assert scorer.promote(second, {**healthy, "fd": 8.0}) and registry.best("bars") == second


def test_a_constant_generator_is_published_flagged_and_never_best(tmp_path):
    registry = Registry(tmp_path)
    spec = _spec()

    def constant(state):  # every weight zero: tanh(0) everywhere, the same image for every latent
        return {k: torch.zeros_like(v) for k, v in state.items()}

    scored = _train(registry, spec, _scorer(registry, spec), corrupt=constant)
    assert registry.versions("bars") == ["000001", "000002"]
    assert all(s["metrics"]["constant"] and "same image" in s["metrics"]["flags"][0] for s in scored)
    assert registry.best("bars") is None


def test_nan_weights_are_flagged_without_metrics(tmp_path):
    registry = Registry(tmp_path)
    spec = _spec(steps=2)

    def poisoned(state):
        return {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()}

    scored = _train(registry, spec, _scorer(registry, spec), corrupt=poisoned)
    assert scored[0]["metrics"]["nan"] and "fd" not in scored[0]["metrics"]
    assert scored[0]["metrics"]["flags"] == ["samples hold NaN or infinity"] and registry.best("bars") is None


def test_a_job_can_skip_scoring(tmp_path):
    registry = Registry(tmp_path)
    spec = _spec(eval_samples=0, steps=2)
    scored = _train(registry, spec, _scorer(registry, spec))
    assert scored[0]["metrics"] is None and registry.best("bars") is None

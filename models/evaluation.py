"""The evaluation protocol: sample a generator, extract features, and compute every metric against a reference.

A Reference is the real side (features of the Fashion-MNIST test split for the shipped extractor, or of the
job's own training images for the random-feature fallback), computed once and cached on disk by extractor
version. `evaluate` draws N samples from fixed seeds (balanced over classes for conditional models), stops
early at a deadline and says so, and returns a JSON-able dict that names the extractor, the reference and N.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models import idx, metrics
from models.evaluator import Extractor, load_evaluator, random_features
from models.latents import NORMAL, Prior

FULL_N = 10_000
TRAINING_N = 2_000
SAMPLE_BATCH = 500
CONSTANT_STD = 1e-3  # pixel std (in [-1, 1] units) across samples below which every sample is the same image


@dataclass(frozen=True)
class Reference:
    extractor: Extractor
    features: np.ndarray  # (R, D) float64
    stats: metrics.Statistics
    noise_n: float  # FD between two disjoint halves of the reference, times their size: fd_noise(N) = noise_n / N
    description: str


def _noise_n(features: np.ndarray, seed: int = 0) -> float:
    order = np.random.default_rng(seed).permutation(features.shape[0])
    half = features.shape[0] // 2
    if half < 2:
        return float("nan")
    fd = metrics.frechet_distance(metrics.statistics(features[order[:half]]),
                                  metrics.statistics(features[order[half : 2 * half]]))
    return fd * half


def make_reference(extractor: Extractor, images: torch.Tensor, description: str) -> Reference:
    """Reference from real uint8 images (N, C, H, W)."""
    features, _ = extractor(images.float().div(127.5).sub(1.0))
    f = features.numpy()
    return Reference(extractor, f, metrics.statistics(f), _noise_n(f), description)


_MEMORY: dict[tuple[str, str], Reference] = {}


def fashion_mnist_reference(data_dir: Path, cache_dir: Path | None = None,
                            extractor: Extractor | None = None) -> Reference:
    """The test split through the shipped extractor; cached in memory and as <cache_dir>/<version>-...npz."""
    extractor = extractor or load_evaluator()
    description = "fashion-mnist test split (10,000 images)"
    key = (extractor.version, str(data_dir))
    if key in _MEMORY:
        return _MEMORY[key]
    cache = cache_dir / f"{extractor.version}-fashion-mnist-test.npz" if cache_dir else None
    reference = None
    if cache is not None and cache.is_file():
        try:
            f = np.load(cache)["features"]
            reference = Reference(extractor, f, metrics.statistics(f), _noise_n(f), description)
        except (OSError, ValueError, KeyError):
            reference = None  # a torn or foreign file: recompute it
    if reference is None:
        images, _ = idx.read_split(data_dir, "test")
        reference = make_reference(extractor, torch.from_numpy(images.copy())[:, None], description)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{time.monotonic_ns()}.tmp.npz")
            np.savez(tmp, features=reference.features)
            tmp.replace(cache)
    _MEMORY[key] = reference
    return reference


def dataset_reference(images: torch.Tensor, description: str, limit: int = FULL_N, seed: int = 0) -> Reference:
    """For datasets the shipped extractor does not fit: a seeded random conv net over their own images."""
    if images.shape[0] > limit:
        images = images[torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:limit]]
    return make_reference(random_features(images.shape[1]), images, f"{description} ({images.shape[0]} images)")


@torch.no_grad()
def sample(generator: nn.Module, latent_dim: int, num_classes: int, n: int, seed: int = 0,
           deadline: float | None = None, device: torch.device | str = "cpu",
           prior: Prior = NORMAL) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Up to n images (N, C, H, W) from seeded latents of `prior`, class-balanced when conditional; fewer at the
    deadline."""
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat((n + num_classes - 1) // num_classes)[:n] if num_classes else None
    chunks = []
    for start in range(0, n, SAMPLE_BATCH):
        if deadline is not None and chunks and time.monotonic() > deadline:
            break
        count = min(SAMPLE_BATCH, n - start)
        z = prior.sample(count, latent_dim, rng).to(device)
        y = labels[start : start + count].to(device) if labels is not None else None
        chunks.append(generator(z, y).float().cpu())
    images = torch.cat(chunks)
    return images, (labels[: images.shape[0]] if labels is not None else None)


def evaluate(generator: nn.Module, latent_dim: int, num_classes: int, reference: Reference, n: int,
             seed: int = 0, time_budget_s: float | None = None, kid_subsets: int = 100,
             device: torch.device | str = "cpu", prior: Prior = NORMAL) -> dict[str, Any]:
    """Every metric of one generator against `reference`, as a JSON-able dict."""
    start = time.monotonic()
    deadline = start + time_budget_s if time_budget_s else None
    was_training = generator.training
    generator.eval()
    try:
        images, labels = sample(generator, latent_dim, num_classes, n, seed, deadline, device, prior)
    finally:
        generator.train(was_training)
    out: dict[str, Any] = {"extractor": reference.extractor.version, "reference": reference.description,
                           "n": images.shape[0], "n_requested": n, "seed": seed, "notes": []}
    if images.shape[0] < n:
        out["notes"].append(f"time budget of {time_budget_s:g} s reached: {images.shape[0]} of {n} samples")
    if not reference.extractor.classifies:
        out["notes"].append("features of a fixed random network: compare checkpoints of this dataset only")
    finite = bool(torch.isfinite(images).all())
    out["nan"] = not finite
    out["constant"] = finite and float(images.std(dim=0).max()) < CONSTANT_STD
    if not finite:
        out["notes"].append("samples hold NaN or infinity: no metric computed")
        out["seconds"] = round(time.monotonic() - start, 2)
        return out

    features, logits = reference.extractor(images)
    fake = features.numpy()
    out["fd"] = metrics.frechet_distance(metrics.statistics(fake), reference.stats)
    out["fd_noise"] = reference.noise_n / out["n"]
    kid = metrics.kid(reference.features, fake, subsets=kid_subsets, seed=seed)
    out["kid"], out["kid_std"], out["kid_subset_size"], out["kid_subsets"] = (
        kid["mean"], kid["std"], kid["subset_size"], kid["subsets"])
    if kid["subset_size"] < 1000:
        out["notes"].append(f"KID over {kid['subsets']} subsets of {kid['subset_size']} (fewer than 1000 samples)")
    # precision/recall/density/coverage compare equal numbers of real and generated samples
    pick = np.random.default_rng(seed).permutation(reference.features.shape[0])[: out["n"]]
    out |= metrics.prdc(reference.features[pick], fake)
    out["diversity"] = metrics.mean_pairwise_distance(fake, seed=seed)
    if logits is not None:
        predictions = logits.argmax(1).numpy()
        histogram = metrics.class_histogram(predictions, logits.shape[1])
        out["class_histogram"] = [round(float(p), 4) for p in histogram]
        out["class_kl"] = metrics.kl_to_uniform(histogram)
        if labels is not None and num_classes == logits.shape[1]:
            accuracy = metrics.label_accuracy(predictions, labels.numpy(), num_classes)
            out["label_accuracy"] = accuracy["mean"]
            out["label_accuracy_per_class"] = accuracy["per_class"]
    out["seconds"] = round(time.monotonic() - start, 2)
    return out

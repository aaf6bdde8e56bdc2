"""Sample-quality metrics on feature vectors, each a small function in float64 numpy.

FD (Frechet distance), KID (kernel inception distance, unbiased), precision/recall/density/coverage
(Naeem et al. 2020), the class histogram with its KL divergence to uniform, and per-class label accuracy.
They take features (N, D) from an extractor (models.evaluator) and know nothing about networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# FD between N real training images and the test split, measured with the shipped extractor, scales like
# 1/N (the bias of the covariance estimate dominates); the evaluator's card records the measured value.
NOISE_REFERENCE_N = 10_000


@dataclass(frozen=True)
class Statistics:
    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D)
    n: int


def statistics(features: np.ndarray) -> Statistics:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"statistics need at least 2 feature vectors, got shape {f.shape}")
    return Statistics(f.mean(0), np.cov(f, rowvar=False), f.shape[0])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: Statistics, b: Statistics) -> float:
    """||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2).

    The cross term uses the symmetric form so that every root is of a symmetric PSD matrix (eigh, real and
    stable), instead of scipy's sqrtm of the non-symmetric S_a S_b.
    """
    root_a = _sqrt_psd(a.cov)
    middle = root_a @ b.cov @ root_a
    eigen = np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)
    diff = a.mean - b.mean
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * np.sqrt(eigen).sum())


def fd_noise(n: int, noise_at_reference: float) -> float:
    """The FD two samples of the same distribution show at N = n, from the value measured at 10,000."""
    return noise_at_reference * NOISE_REFERENCE_N / max(n, 1)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, the kernel of Binkowski et al. 2018."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel: diagonal terms left out of the within-set means."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict[str, float | int]:
    """Mean and standard deviation of unbiased MMD^2 over random subsets; smaller sets shrink the subsets."""
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(real.shape[0], size, replace=False)],
                            fake[rng.choice(fake.shape[0], size, replace=False)]) for _ in range(subsets)]
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "subsets": subsets,
            "subset_size": size}


def _distance_chunks(a: np.ndarray, b: np.ndarray, chunk: int = 1024):
    """(start, distances (chunk, len(b)) float32) over row chunks of a: 10k x 10k never sits in memory whole."""
    tb = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
    for start in range(0, a.shape[0], chunk):
        ta = torch.from_numpy(np.ascontiguousarray(a[start : start + chunk], dtype=np.float32))
        yield start, torch.cdist(ta, tb).numpy()


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the same set."""
    radii = np.empty(features.shape[0], dtype=np.float64)
    for start, d in _distance_chunks(features, features):
        radii[start : start + d.shape[0]] = np.partition(d, k, axis=1)[:, k]  # column 0: the point itself
    return radii


def prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Precision and recall (k = 3) of Kynkaanniemi et al. 2019, density and coverage (k = 5) of Naeem et al.

    precision: share of fakes inside some real k-NN ball; recall: share of reals inside some fake k-NN ball;
    density: mean count of real balls containing each fake, over k; coverage: share of real balls holding
    at least one fake.
    """
    if min(real.shape[0], fake.shape[0]) <= max(k_pr, k_dc):
        raise ValueError(f"precision/recall/density/coverage need more than {max(k_pr, k_dc)} samples per side")
    real_radii_pr, real_radii_dc = kth_neighbour_radii(real, k_pr), kth_neighbour_radii(real, k_dc)
    fake_radii_pr = kth_neighbour_radii(fake, k_pr)
    in_real_ball = np.zeros(fake.shape[0], dtype=bool)
    real_balls_per_fake = np.zeros(fake.shape[0], dtype=np.int64)
    recalled = np.zeros(real.shape[0], dtype=bool)
    covered = np.zeros(real.shape[0], dtype=bool)
    for start, d in _distance_chunks(real, fake):  # d: (chunk of reals, fakes)
        rows = slice(start, start + d.shape[0])
        in_real_ball |= (d < real_radii_pr[rows, None]).any(axis=0)
        real_balls_per_fake += (d < real_radii_dc[rows, None]).sum(axis=0)
        recalled[rows] = (d < fake_radii_pr[None, :]).any(axis=1)
        covered[rows] = d.min(axis=1) < real_radii_dc[rows]
    return {"precision": float(in_real_ball.mean()), "recall": float(recalled.mean()),
            "density": float(real_balls_per_fake.mean() / k_dc), "coverage": float(covered.mean())}


def mean_pairwise_distance(features: np.ndarray, pairs: int = 100_000, seed: int = 0) -> float:
    """Mean distance between two different samples, over random pairs: how far apart a set's samples are, so
    that a generator whose samples are alike scores below the real images."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, features.shape[0], pairs)
    # a uniform offset in 1..n-1 gives a uniformly drawn second index that never equals the first
    second = (first + rng.integers(1, features.shape[0], pairs)) % features.shape[0]
    return float(np.linalg.norm(features[first] - features[second], axis=1).mean())


def class_histogram(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Share of samples the classifier assigns to each class."""
    counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_classes)[:num_classes]
    return counts / max(counts.sum(), 1)


def kl_to_uniform(histogram: np.ndarray) -> float:
    """KL(p || uniform) = sum p log(p K), in nats; 0 for a uniform histogram, log K for a single class."""
    p = np.asarray(histogram, dtype=np.float64)
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] * p.size)).sum())


def label_accuracy(predictions: np.ndarray, requested: np.ndarray, num_classes: int) -> dict[str, object]:
    """For conditional models: share of samples classified as the class they were asked for, per class."""
    predictions, requested = np.asarray(predictions), np.asarray(requested)
    per_class = [float((predictions[requested == c] == c).mean()) if (requested == c).any() else None
                 for c in range(num_classes)]
    return {"mean": float((predictions == requested).mean()), "per_class": per_class}

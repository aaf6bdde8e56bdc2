"""A request's rows as a job's inputs: seeds, latents checked against the version, and class labels.

Every check a client can fail raises InvalidRequest naming the field, before any forward runs. `version` is
anything with the version's `name`, `latent_dim`, `classes` and `metadata`: the API's catalog entry or a
runner's version.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch

from app.errors import InvalidRequest
from models import arithmetic
from models.architectures import get_architecture
from models.latents import prior_of, walk_labels

MAX_ABS_LATENT = 1e3  # a Gaussian prior never comes near; larger values only overflow


def random_seeds(n: int) -> list[int]:
    return [secrets.randbelow(2**31) for _ in range(n)]


def checked_latents(rows: list[list[float]], version, field: str) -> np.ndarray:
    """(n, latent_dim) float32 latents of the right size, finite, within +-MAX_ABS_LATENT and within the
    support of the version's prior (the cube [-1, 1]^d for a uniform one)."""
    for i, row in enumerate(rows):
        if len(row) != version.latent_dim:
            raise InvalidRequest(f"{field}.{i}", f"latent has {len(row)} values; model {version.name!r} "
                                 f"takes {version.latent_dim}")
    latents = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(latents).all() or np.abs(latents).max() > MAX_ABS_LATENT:
        raise InvalidRequest(field, f"latent values must be finite numbers within +-{MAX_ABS_LATENT:g}")
    prior = prior_of(version.metadata)
    if prior.bound is not None and np.abs(latents).max() > prior.bound:
        row, column = np.unravel_index(np.abs(latents).argmax(), latents.shape)
        raise InvalidRequest(f"{field}.{row}", f"model {version.name!r} draws its latents from the {prior.summary}: "
                             f"value {latents[row, column]:g} at index {column} is outside [-{prior.bound:g}, "
                             f"{prior.bound:g}]")
    return latents.astype(np.float32)


def checked_truncation(truncation: float, version, field: str = "truncation") -> float:
    """The truncation, refused where it could only be ignored: a generator that pixel-normalises z (progan)
    gives the same image for z and for z scaled toward the mean."""
    if truncation != 1.0 and not get_architecture(version.metadata["architecture"]).truncates:
        raise InvalidRequest(field, f"model {version.name!r} ({version.metadata['architecture']}) normalises each "
                             "latent to unit length first, so truncation cannot change its images: leave it at 1")
    return truncation


def label_index(label: int | str, version, field: str) -> int:
    classes = version.classes
    if not classes:
        raise InvalidRequest(field, f"model {version.name!r} is unconditional: leave out labels")
    if isinstance(label, int):
        if not 0 <= label < len(classes):
            raise InvalidRequest(field, f"class index {label} is out of range 0..{len(classes) - 1}")
        return label
    if label in classes:
        return classes.index(label)
    raise InvalidRequest(field, f"unknown class {label!r}; valid: {', '.join(classes)}")


def label_name(label: int | str | None, version) -> str | None:
    """The class name a checked label stands for."""
    return None if label is None else version.classes[label_index(label, version, "label")]


def label_indices(labels: list[int | str] | None, count: int, version, field: str = "labels") -> list[int] | None:
    """One class index per image, from one label for all or one per image; required for conditional models,
    refused otherwise."""
    if labels is None:
        if version.classes:
            raise InvalidRequest(field, f"model {version.name!r} is conditional: give a class name or index "
                                 f"({', '.join(version.classes)})")
        return None
    if len(labels) not in (1, count):
        raise InvalidRequest(field, f"give one label for all images or one per image ({count}), not {len(labels)}")
    indices = [label_index(label, version, f"{field}.{i}") for i, label in enumerate(labels)]
    return indices * count if len(indices) == 1 else indices


def one_label(label: int | str | None, version, field: str = "label") -> int | None:
    """The class index of a request's single `label`: required for conditional models, refused otherwise."""
    if label is None:
        label_indices(None, 1, version, field)  # refuses a conditional model's missing label
        return None
    if not version.classes:
        raise InvalidRequest(field, f"model {version.name!r} is unconditional: leave out the label")
    return label_index(label, version, field)


def seed_label(label: str | None, version) -> list[int] | None:
    """A seed URL's `label` parameter (a class name, or an index in decimal) as the job's labels."""
    if label is None:
        return label_indices(None, 1, version, "label")  # refuses a conditional model's missing label
    return [label_index(int(label) if label.isascii() and label.isdigit() else label, version, "label")]


def point_latent(seed: int | None, latent: list[float] | None, version, field: str) -> torch.Tensor:
    """One point of the latent space, given by its seed or by its values."""
    if latent is not None:
        return torch.from_numpy(checked_latents([latent], version, field)[0])
    return prior_of(version.metadata).seed_latents([seed], version.latent_dim)[0]


def walk_inputs(version, start, end, steps: int, method: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A walk's latents, by `method` or else the prior's own, and for conditional models class vectors walked
    the same way. A slerp of a uniform model is clipped to its cube (models/latents.py)."""
    z = prior_of(version.metadata).walk(point_latent(start.seed, start.latent, version, "start.latent"),
                                        point_latent(end.seed, end.latent, version, "end.latent"), steps, method)
    labels = None
    if version.classes or start.label is not None or end.label is not None:
        first = label_indices(None if start.label is None else [start.label], 1, version, "start.label")
        last = label_indices(None if end.label is None else [end.label], 1, version, "end.label")
        labels = walk_labels(first[0], last[0], steps, len(version.classes)).numpy()
    return z.numpy(), labels


def arithmetic_inputs(version, body) -> tuple[np.ndarray, list[int] | None, torch.Tensor, int]:
    """Each term's mean latent, the result and its variations, in that order, with their labels; the result's
    latent; and the number of terms. The result's class is the request's, else the last positive term's."""
    prior = prior_of(version.metadata)
    means, term_labels = [], []
    for i, term in enumerate(body.terms):
        group = (prior.seed_latents(term.seeds, version.latent_dim) if term.seeds is not None
                 else torch.from_numpy(checked_latents(term.latents, version, f"terms.{i}.latents")))
        means.append(group.mean(0))
        term_labels.append(label_indices(None if term.label is None else [term.label], 1, version,
                                         f"terms.{i}.label"))
    # A - B + C of points of a uniform cube can leave it: the result and its variations are clipped back
    result = prior.contain(arithmetic.combine(torch.stack(means), [t.weight for t in body.terms]))
    variations = arithmetic.variations(result, body.variations, body.variation_scale, body.seed)
    latents = torch.cat([torch.stack(means), result[None], prior.contain(variations)])
    if body.label is not None:
        result_label = label_indices([body.label], 1, version, "label")
    else:
        positive = [y for t, y in zip(body.terms, term_labels) if t.weight > 0] or term_labels
        result_label = positive[-1]
    labels = [y[0] for y in term_labels] + result_label * (1 + body.variations) if version.classes else None
    return latents.numpy(), labels, result, len(means)

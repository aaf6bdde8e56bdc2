"""A model's interface: what clients build requests against (latent size and prior, class names in order, image
shape), fixed by its first version, so that `latest` never changes what a request means.

The interface is recorded in the model's `INTERFACE` record the first time anyone asks for it (the API taking
a job, a worker starting one, the catalog loading a version), read from the oldest version then; deleting
versions later never changes it.
"""

from __future__ import annotations

import logging
from typing import Any

from models.checkpoint import CheckpointError, read_metadata
from models.idx import FASHION_MNIST_CLASSES
from models.latents import prior_of
from models.registry import Registry, VersionNotFound

log = logging.getLogger(__name__)

INTERFACE = "INTERFACE"
FIELDS = ("latent_dim", "latent_distribution", "classes", "image")
SOME_CLASSES = "some classes"  # a conditional job whose class names only its worker learns, from the data


def of_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    image = metadata["image"]
    return {"latent_dim": int(metadata["latent_dim"]), "latent_distribution": prior_of(metadata).name,
            "classes": metadata.get("classes") or None,
            "image": {"height": image["height"], "width": image["width"], "channels": image["channels"]}}


class InterfaceChanged(ValueError):
    """A training job that would publish versions of another interface under an existing model's name."""


def of_spec(spec, class_names: list[str] | None = None) -> dict[str, Any]:
    """What a training job (models/spec.TrainSpec) would publish. The class names are the data's, once the
    worker read it; before, only where the dataset fixes them (Fashion-MNIST)."""
    classes = None
    if spec.arch.conditional:
        fixed_names = list(FASHION_MNIST_CLASSES) if spec.dataset.kind == "fashion-mnist" else SOME_CLASSES
        classes = class_names or fixed_names
    return {"latent_dim": spec.latent_dim, "latent_distribution": spec.latent_distribution, "classes": classes,
            "image": {"height": spec.height, "width": spec.width, "channels": spec.channels}}


def refuse_changes(registry: Registry, spec, class_names: list[str] | None = None) -> None:
    """InterfaceChanged, naming each differing field, for a job that would change its model's interface. A job
    that resumes continues the interface of the version it starts from, and is not held to another."""
    if spec.resume is not None:
        return
    reference = fixed(registry, spec.model)
    differing = [] if reference is None else differences(reference, of_spec(spec, class_names))
    if differing:
        raise InterfaceChanged(f"model {spec.model!r} keeps the interface its version {reference['fixed_by']} "
                               f"fixed, and this job would change it: {'; '.join(differing)}. Match them, or "
                               "train under another model name")


def differences(fixed: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """The fields of `other` that differ from `fixed`, each with both values, e.g. "latent_dim: 64, not 100"."""
    found = []
    for field in FIELDS:
        mine, theirs = fixed[field], other[field]
        if field == "classes" and theirs == SOME_CLASSES and mine is not None:
            continue  # conditional both: the names are checked when the version lands
        if mine != theirs:
            found.append(f"{field}: {_shown(theirs)}, not {_shown(mine)}")
    return found


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value['height']}x{value['width']}x{value['channels']}"
    if value is None:
        return "none (unconditional)"
    return str(value)


def fixed(registry: Registry, model: str) -> dict[str, Any] | None:
    """The interface of `model`, fixed by its first version; None for a model with no readable version yet."""
    recorded = registry.read_record(model, INTERFACE)
    if recorded is not None:
        return {"latent_distribution": "normal", **recorded}  # recorded before latent priors had a choice
    for version in registry.versions(model):
        try:
            first = of_metadata(read_metadata(registry.path(model, version)))
        except (CheckpointError, VersionNotFound, OSError, KeyError, TypeError, ValueError):
            continue  # unreadable: the next oldest fixes it
        try:
            registry.write_record(model, INTERFACE, {**first, "fixed_by": version})
        except OSError as e:  # a read-only registry still answers from the version itself
            log.warning("cannot record the interface of %s: %s", model, e)
        return {**first, "fixed_by": version}
    return None

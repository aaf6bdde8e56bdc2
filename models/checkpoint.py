"""The checkpoint format: fixed file names, safetensors weights, JSON metadata with sha256 of each file.

A version directory holds:
  metadata.json          architecture and config, image shape, classes, step, dataset, spec, time, file hashes
  generator.safetensors  the served generator (the EMA weights when the job keeps an average)
  discriminator.safetensors  the trained discriminator, for its features (optional: older versions lack it)
  training.safetensors   what resuming needs: raw G, D, both optimizers, RNG state (optional)
  samples.png            a grid from the job's fixed latents (optional)
Nothing is ever unpickled: tensors come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from models.architectures import get_architecture

FORMAT = "gan-service.checkpoint/1"
METADATA = "metadata.json"
WEIGHTS = "generator.safetensors"
DISCRIMINATOR = "discriminator.safetensors"
TRAINING = "training.safetensors"
SAMPLES = "samples.png"


class CheckpointError(Exception):
    """A version directory that cannot be served: missing files, bad JSON, wrong hashes or shapes."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or strided storage; clones make every tensor its own
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def write_checkpoint(
    directory: Path,
    metadata: dict[str, Any],
    generator_state: dict[str, torch.Tensor],
    training_state: dict[str, torch.Tensor] | None = None,
    training_info: dict[str, str] | None = None,
    samples_png: bytes | None = None,
    discriminator_state: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Write every file of a version into `directory` (a temporary one: the registry publishes it).

    Returns the metadata as written, with the file hashes filled in.
    """
    directory.mkdir(parents=True, exist_ok=True)
    save_file(_contiguous(generator_state), str(directory / WEIGHTS))
    files = {WEIGHTS: sha256_file(directory / WEIGHTS)}
    if discriminator_state is not None:
        save_file(_contiguous(discriminator_state), str(directory / DISCRIMINATOR))
        files[DISCRIMINATOR] = sha256_file(directory / DISCRIMINATOR)
    if training_state is not None:
        save_file(_contiguous(training_state), str(directory / TRAINING), metadata=training_info or {})
        files[TRAINING] = sha256_file(directory / TRAINING)
    if samples_png is not None:
        (directory / SAMPLES).write_bytes(samples_png)
        files[SAMPLES] = sha256_file(directory / SAMPLES)
    written = {**metadata, "format": FORMAT, "files": files, "weights_sha256": files[WEIGHTS]}
    (directory / METADATA).write_text(json.dumps(written, indent=2, sort_keys=True))
    return written


def weights_sha256(metadata: dict[str, Any]) -> str:
    """What a version's images are made from, as its metadata records it."""
    return metadata["files"][WEIGHTS]


def read_metadata(directory: Path) -> dict[str, Any]:
    try:
        metadata = json.loads((directory / METADATA).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{METADATA} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{METADATA} is not valid JSON: {e}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(f"{METADATA} is not a {FORMAT} checkpoint")
    for key in ("architecture", "generator_config", "latent_dim", "image", "files"):
        if key not in metadata:
            raise CheckpointError(f"{METADATA} lacks {key!r}")
    return metadata


def verify_file(directory: Path, metadata: dict[str, Any], name: str) -> Path:
    path = directory / name
    expected = metadata["files"].get(name)
    if expected is None:
        raise CheckpointError(f"{name} is not listed in {METADATA}")
    if not path.is_file():
        raise CheckpointError(f"{name} is missing")
    if sha256_file(path) != expected:
        raise CheckpointError(f"{name} does not match the sha256 in {METADATA}")
    return path


def load_generator(directory: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The version's generator in eval mode on `device`, after checking the weights' hash and every key."""
    metadata = read_metadata(directory)
    path = verify_file(directory, metadata, WEIGHTS)
    try:
        architecture = get_architecture(metadata["architecture"])
        generator = architecture.build_generator(metadata["generator_config"])
        state = load_file(str(path))
        generator.load_state_dict(state, strict=True)
    except (SafetensorError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{WEIGHTS} does not fit {metadata.get('architecture')!r}: {e}") from None
    return generator.to(device).eval().requires_grad_(False), metadata


def has_discriminator(metadata: dict[str, Any]) -> bool:
    return DISCRIMINATOR in metadata.get("files", {})


def load_discriminator(directory: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The version's trained discriminator in eval mode, checked as the generator is. CheckpointError when the
    version has none (published before discriminators were kept, or copied without one)."""
    metadata = read_metadata(directory)
    if not has_discriminator(metadata):
        raise CheckpointError(f"this version keeps no {DISCRIMINATOR}: it was published without its discriminator")
    path = verify_file(directory, metadata, DISCRIMINATOR)
    try:
        discriminator = get_architecture(metadata["architecture"]).build_discriminator(metadata["generator_config"])
        discriminator.load_state_dict(load_file(str(path)), strict=True)
    except (SafetensorError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{DISCRIMINATOR} does not fit {metadata.get('architecture')!r}: {e}") from None
    return discriminator.to(device).eval().requires_grad_(False), metadata


def has_training_state(directory: Path) -> bool:
    """Whether a version can be resumed from: the shipped default, for one, keeps only the generator."""
    try:
        return TRAINING in read_metadata(directory)["files"]
    except (CheckpointError, OSError):
        return False


def load_training_state(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and string metadata of training.safetensors, for resuming a job."""
    metadata = read_metadata(directory)
    path = verify_file(directory, metadata, TRAINING)
    with safe_open(str(path), framework="pt") as f:
        info = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, info


def flatten_optimizer(state: dict[str, Any], prefix: str) -> tuple[dict[str, torch.Tensor], str]:
    """An optimizer state dict as safetensors tensors plus a JSON string for its param groups."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{slot}"] = value
            else:
                scalars.setdefault(str(index), {})[slot] = value
    return tensors, json.dumps({"param_groups": state["param_groups"], "scalars": scalars})


def unflatten_optimizer(tensors: dict[str, torch.Tensor], info: str, prefix: str) -> dict[str, Any]:
    meta = json.loads(info)
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, slot = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[slot] = value
    for index, slots in meta["scalars"].items():
        state.setdefault(int(index), {}).update(slots)
    return {"state": state, "param_groups": meta["param_groups"]}

"""Training data, loaded once into memory as a uint8 tensor (N, C, H, W) with optional int64 labels.

Batches are sliced from that tensor and normalised on the fly, so no per-item Python runs in the loop.
"""

from __future__ import annotations

import gzip
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from models.spec import DatasetSpec, resolve_dataset_path

log = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SYNTHETIC_SIZE = 512
MIN_IMAGE_SIDE = 4  # smaller pictures (a one-pixel image, say) hold nothing to learn from: skipped


class DatasetError(ValueError):
    """A dataset the job cannot train on; the message says what to fix."""


@dataclass
class TrainingData:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None  # (N,) int64
    class_names: list[str] | None
    description: str
    warnings: list[str] = field(default_factory=list)  # what was skipped, for the job's status

    def __len__(self) -> int:
        return self.images.shape[0]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise DatasetError(f"{path.name} is too short to be an IDX file")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DatasetError(f"{path.name} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{path.name} holds {body.size} bytes, its header promises {int(np.prod(shape))}")
    return body.reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise DatasetError(f"{directory} has no {stem} or {stem}.gz (expected the MNIST IDX file names)")


def load_idx_dir(directory: Path, split: str, class_names: list[str] | None) -> TrainingData:
    if not directory.is_dir():
        raise DatasetError(f"dataset directory {directory} does not exist")
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise DatasetError(f"{directory}: images {images.shape} and labels {labels.shape} do not match")
    names = class_names or [str(i) for i in range(int(labels.max()) + 1)]
    return TrainingData(torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels), names,
                        f"idx:{directory}:{split}")


def load_folder(directory: Path, height: int, width: int) -> TrainingData:
    """Images under `directory`; first-level sub-directories, if every image sits in one, are classes."""
    if not directory.is_dir():
        raise DatasetError(f"dataset directory {directory} does not exist")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{directory} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    pictures, unreadable, tiny = [], 0, 0
    for path in files:
        try:
            with Image.open(path) as im:
                im.load()
                if min(im.size) < MIN_IMAGE_SIDE:
                    tiny += 1
                    continue
                pictures.append((path, im.convert("RGB")))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            unreadable += 1
    warnings = []
    if unreadable:
        warnings.append(f"skipped {unreadable} of {len(files)} image files in {directory} that could not be read")
    if tiny:
        warnings.append(f"skipped {tiny} images smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels in {directory}")
    for warning in warnings:
        log.warning(warning)
    if not pictures:
        raise DatasetError(f"none of the {len(files)} image files in {directory} could be used: "
                           + "; ".join(warnings))
    top = [p.relative_to(directory).parts for p, _ in pictures]
    class_names = sorted({parts[0] for parts in top}) if all(len(parts) > 1 for parts in top) else None
    labels = (torch.tensor([class_names.index(parts[0]) for parts in top]) if class_names else None)
    # sizes and modes may differ: each picture is converted to RGB above and resized here
    resized = [np.asarray(im.resize((width, height), Image.BICUBIC)) for _, im in pictures]
    images = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).contiguous()
    return TrainingData(images, labels, class_names, f"folder:{directory}", warnings)


def synthetic(height: int, width: int, channels: int, count: int = SYNTHETIC_SIZE, seed: int = 0) -> TrainingData:
    """Ten classes of blurred bars at class-dependent angles, for fast and meaningful tests."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 10
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    angles = labels.float() * (torch.pi / 10) + 0.1 * torch.randn(count, generator=g)
    offsets = 0.3 * torch.randn(count, generator=g)
    distance = (xx[None] * torch.cos(angles)[:, None, None] + yy[None] * torch.sin(angles)[:, None, None]
                - offsets[:, None, None])
    bars = torch.exp(-(distance**2) / 0.05)
    images = (bars * 255).round().to(torch.uint8)[:, None].expand(-1, channels, -1, -1).clone()
    return TrainingData(images, labels, [f"bar-{i}" for i in range(10)], f"synthetic:{count}")


def fit(data: TrainingData, height: int, width: int, channels: int) -> TrainingData:
    """Resize and convert channels to what the job trains at."""
    images = data.images
    if images.shape[1] != channels:
        if channels == 1:  # ITU-R 601 luma, as Pillow's "L"
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
        else:
            images = images.expand(-1, 3, -1, -1)
    if images.shape[2:] != (height, width):
        chunks = [F.interpolate(c.float(), size=(height, width), mode="bilinear", antialias=True,
                                align_corners=False).round().clamp(0, 255).to(torch.uint8)
                  for c in images.split(1024)]
        images = torch.cat(chunks)
    return TrainingData(images.contiguous(), data.labels, data.class_names, data.description, data.warnings)


def load(spec: DatasetSpec, height: int, width: int, channels: int, fashion_mnist_dir: Path,
         data_roots: list[Path], seed: int = 0) -> TrainingData:
    if spec.kind == "synthetic":
        data = synthetic(height, width, channels, count=spec.limit or SYNTHETIC_SIZE, seed=seed)
    elif spec.kind == "fashion-mnist":
        data = load_idx_dir(fashion_mnist_dir, spec.split, FASHION_MNIST_CLASSES)
    elif spec.kind == "idx":
        data = load_idx_dir(resolve_dataset_path(spec.path, data_roots), spec.split, None)
    else:
        data = load_folder(resolve_dataset_path(spec.path, data_roots), height, width)
    if spec.limit and len(data) > spec.limit:
        data = TrainingData(data.images[: spec.limit], None if data.labels is None else data.labels[: spec.limit],
                            data.class_names, data.description, data.warnings)
    return fit(data, height, width, channels)

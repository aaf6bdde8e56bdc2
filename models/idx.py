"""The IDX file format of MNIST-like datasets: a reader shared by the worker's datasets and the evaluator, and a
writer for the synthetic datasets the service makes."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class IdxError(ValueError):
    """A file or directory that is not the IDX data it should be; the message says what is wrong."""


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise IdxError(f"{path.name} is too short to be an IDX file")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise IdxError(f"{path.name} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise IdxError(f"{path.name} holds {body.size} bytes, its header promises {int(np.prod(shape))}")
    return body.reshape(shape)


def idx_header(shape: tuple[int, ...]) -> bytes:
    """The header of an unsigned-byte IDX file holding an array of `shape`; the bytes follow in C order."""
    return struct.pack(f">HBB{len(shape)}I", 0, 0x08, len(shape), *shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file, gzipped when `path` ends in .gz, as `read_idx` reads it."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold unsigned bytes, not {array.dtype}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(idx_header(array.shape))
        f.write(np.ascontiguousarray(array).tobytes())


def find_idx(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise IdxError(f"{directory} has no {stem} or {stem}.gz (expected the MNIST IDX file names)")


def read_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W) uint8, labels (N,) int64) of the `train` or `test` split in an IDX directory."""
    if not directory.is_dir():
        raise IdxError(f"dataset directory {directory} does not exist")
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(find_idx(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx(directory, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise IdxError(f"{directory}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels

"""A synthetic dataset as a .tar.gz people load without this project, written as the images are generated.

- `png`: `manifest.json`, `labels.csv` (file, seed, and for a conditional model label and class) and
  `images/000000.png`...
- `idx`: `manifest.json` and Fashion-MNIST's file names, `train-images-idx3-ubyte.gz` (N, H, W) or
  (N, H, W, C) and, for a conditional model, `train-labels-idx1-ubyte.gz`: torchvision's and Keras's loaders
  read them as they read Fashion-MNIST.
The manifest and the labels come first, as they are known before any image is; no more than one batch of
images is ever held in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from models import idx
from models.images import encode_png
from models.provenance import SOFTWARE
from models.synthesis import SynthesisSpec, class_counts

MANIFEST = "manifest.json"
LABELS_CSV = "labels.csv"
IDX_IMAGES = "train-images-idx3-ubyte.gz"
IDX_LABELS = "train-labels-idx1-ubyte.gz"
# the images inside are compressed already (PNG, gzipped IDX): a light outer level costs little and saves the
# tar headers' padding
COMPRESS_LEVEL = 1
# gzip's default, 9, took the IDX images a third longer than generating them (bench/datasets.py)
IDX_LEVEL = 6


def manifest(spec: SynthesisSpec, metadata: dict[str, Any], weights_sha256: str,
             labels: np.ndarray | None) -> dict[str, Any]:
    """What made the dataset: enough to make every image again through the seed URLs."""
    classes = metadata.get("classes")
    label_query = "&label={label}" if classes else ""
    return {
        "model": spec.model, "version": spec.version, "weights_sha256": weights_sha256,
        "software": SOFTWARE, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "format": spec.format, "n": spec.n, "image": metadata["image"],
        "seeds": {"first": spec.seeds.start, "last": spec.seeds.stop - 1},
        "truncation": spec.truncation,
        "classes": classes,
        "class_counts": (dict(zip(classes, class_counts(spec.weights, spec.n).tolist())) if classes else None),
        "labels": labels.tolist() if labels is not None else None,  # class index of image i, seed first + i
        "seed_url": f"/models/{spec.model}/seeds/{{seed}}.png?version={spec.version}{label_query}"
                    f"&truncation={spec.truncation}",
    }


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
    tar.addfile(info, io.BytesIO(data))


def _labels_csv(seeds: range, labels: np.ndarray | None, classes: list[str] | None) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "seed", "label", "class"] if labels is not None else ["file", "seed"])
    for i, seed in enumerate(seeds):
        row = [image_name(i), seed]
        writer.writerow(row + [int(labels[i]), classes[labels[i]]] if labels is not None else row)
    return text.getvalue().encode()


def image_name(index: int) -> str:
    return f"images/{index:06d}.png"


def write(path: Path, facts: dict[str, Any], batches: Iterable[np.ndarray], labels: np.ndarray | None,
          progress: Callable[[int], None] = lambda done: None) -> None:
    """The archive of `facts` (a `manifest`) at `path`, from (B, H, W, C) uint8 `batches`; `progress(done)`
    after each batch may raise to stop, leaving a partial file for the caller to remove."""
    now = time.time()
    with tarfile.open(path, "w:gz", compresslevel=COMPRESS_LEVEL) as tar:
        _add(tar, MANIFEST, json.dumps(facts, indent=1).encode(), now)
        if facts["format"] == "png":
            _write_pngs(tar, facts, batches, labels, progress, now)
        else:
            _write_idx(tar, path, facts, batches, labels, progress, now)


def _write_pngs(tar: tarfile.TarFile, facts: dict[str, Any], batches: Iterable[np.ndarray],
                labels: np.ndarray | None, progress: Callable[[int], None], now: float) -> None:
    seeds = range(facts["seeds"]["first"], facts["seeds"]["last"] + 1)
    _add(tar, LABELS_CSV, _labels_csv(seeds, labels, facts["classes"]), now)
    done = 0
    for batch in batches:
        for image in batch:
            _add(tar, image_name(done), encode_png(image), now)
            done += 1
        progress(done)


def _write_idx(tar: tarfile.TarFile, path: Path, facts: dict[str, Any], batches: Iterable[np.ndarray],
               labels: np.ndarray | None, progress: Callable[[int], None], now: float) -> None:
    if labels is not None:
        labels_gz = io.BytesIO()
        with gzip.GzipFile(fileobj=labels_gz, mode="wb", compresslevel=IDX_LEVEL, mtime=int(now)) as f:
            f.write(idx.idx_header(labels.shape) + labels.astype(np.uint8).tobytes())
        _add(tar, IDX_LABELS, labels_gz.getvalue(), now)
    height, width, channels = (facts["image"][k] for k in ("height", "width", "channels"))
    shape = (facts["n"], height, width) + ((channels,) if channels > 1 else ())
    # the images file's size is known only once it is compressed: it goes through a file beside the archive
    scratch = path.with_name(f".{path.name}.images")
    try:
        with gzip.GzipFile(scratch, "wb", compresslevel=IDX_LEVEL, mtime=int(now)) as f:
            f.write(idx.idx_header(shape))
            done = 0
            for batch in batches:  # (B, H, W, C) -> C order of (N, H, W[, C])
                f.write(np.ascontiguousarray(batch).tobytes())
                done += len(batch)
                progress(done)
        info = tar.gettarinfo(scratch, arcname=IDX_IMAGES)
        info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = int(now), 0o644, 0, 0, "", ""
        with open(scratch, "rb") as f:
            tar.addfile(info, f)
    finally:
        scratch.unlink(missing_ok=True)

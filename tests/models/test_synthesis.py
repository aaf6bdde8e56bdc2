"""Synthetic datasets: exact class proportions, reproducible labels, and archives that load without the project."""

import csv
import io
import json
import tarfile
import time

import numpy as np
import pytest
import torch
from torch import nn

from models import dataset_archive, dataset_store, idx
from models.images import encode_png
from models.synthesis import SynthesisSpec, class_counts, draw_labels, generate

CLASSES = ["a", "b", "c"]
METADATA = {"image": {"height": 4, "width": 5, "channels": 1}, "classes": CLASSES}


class Stripes(nn.Module):
    """A stand-in generator whose image depends on the latent's first value and the label: (N, 1, 4, 5)."""

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        level = torch.tanh(z[:, :1]) * 0.5 + (0 if y is None else y[:, None].float() * 0.1)
        return level[:, :, None, None].expand(-1, 1, 4, 5)


def test_class_counts_hold_the_distribution_exactly_and_sum_to_n():
    assert class_counts([1, 1, 1], 10).tolist() == [4, 3, 3]
    assert class_counts([0.5, 0, 0.5], 7).tolist() == [4, 0, 3]
    assert class_counts([1] * 10, 60_000).tolist() == [6_000] * 10


def test_labels_depend_only_on_the_spec_and_follow_the_counts():
    labels = draw_labels([2, 1, 0], 300, first_seed=9)
    assert np.array_equal(labels, draw_labels([2, 1, 0], 300, first_seed=9))
    assert np.bincount(labels, minlength=3).tolist() == [200, 100, 0]
    assert not np.array_equal(labels, draw_labels([2, 1, 0], 300, first_seed=10))


def test_images_do_not_depend_on_the_batch_they_are_generated_in():
    labels = draw_labels([1, 1, 1], 10, 0)
    whole = np.concatenate(list(generate(Stripes(), 8, range(10), labels, 0.7, torch.device("cpu"))))
    in_threes = np.concatenate(list(generate(Stripes(), 8, range(10), labels, 0.7, torch.device("cpu"), 3)))
    assert whole.shape == (10, 4, 5, 1) and np.array_equal(whole, in_threes)


def test_a_spec_refuses_weights_summing_to_zero_and_seeds_past_int64():
    with pytest.raises(ValueError, match="sum to zero"):
        SynthesisSpec(model="m", version="000001", n=3, weights=[0, 0])
    with pytest.raises(ValueError, match="largest seed"):
        SynthesisSpec(model="m", version="000001", n=3, first_seed=2**63 - 2)


def test_an_idx_file_reads_back_as_written(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    idx.write_idx(tmp_path / "x-idx3-ubyte.gz", array)
    assert np.array_equal(idx.read_idx(tmp_path / "x-idx3-ubyte.gz"), array)


def _archive(tmp_path, fmt: str, n: int = 7):
    spec = SynthesisSpec(model="m", version="000001", n=n, weights=[1, 1, 1], first_seed=100, format=fmt)
    labels = draw_labels(spec.weights, n, spec.first_seed)
    facts = dataset_archive.manifest(spec, METADATA, "f" * 64, labels)
    images = np.concatenate(list(generate(Stripes(), 8, spec.seeds, labels, 1.0, torch.device("cpu"))))
    seen = []
    path = dataset_store.save(tmp_path / fmt, facts, 60, lambda p: dataset_archive.write(
        p, facts, generate(Stripes(), 8, spec.seeds, labels, 1.0, torch.device("cpu"), 3), labels, seen.append))
    return path, labels, images, seen


def test_a_png_archive_holds_the_manifest_labels_csv_and_one_png_per_seed(tmp_path):
    path, labels, images, seen = _archive(tmp_path, "png")
    assert seen == [3, 6, 7]
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        rows = list(csv.DictReader(io.TextIOWrapper(tar.extractfile("labels.csv"))))
        png = tar.extractfile("images/000006.png").read()
    assert manifest["seeds"] == {"first": 100, "last": 106} and manifest["labels"] == labels.tolist()
    assert manifest["weights_sha256"] == "f" * 64 and manifest["software"].startswith("gan-service")
    assert rows[6] == {"file": "images/000006.png", "seed": "106", "label": str(labels[6]),
                       "class": CLASSES[labels[6]]}
    assert png == encode_png(images[6])


def test_an_idx_archive_reads_as_fashion_mnist_does(tmp_path):
    path, labels, images, _ = _archive(tmp_path, "idx")
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "out", filter="data")
    read_images, read_labels = idx.read_split(tmp_path / "out", "train")
    assert np.array_equal(read_images, images[..., 0]) and np.array_equal(read_labels, labels)


def test_a_failed_write_leaves_no_dataset_behind(tmp_path):
    def fail(path):
        path.write_bytes(b"half")
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        dataset_store.save(tmp_path / "d", {}, 60, fail)
    assert not (tmp_path / "d").exists()


def test_expired_datasets_are_removed_and_others_kept(tmp_path):
    for name, ttl in (("old", 1), ("new", 3600)):
        dataset_store.save(tmp_path / dataset_store.DATASETS_DIR / name, {}, ttl, lambda p: p.write_bytes(b"x"))
    assert dataset_store.remove_expired(tmp_path, now=time.time() + 10) == ["old"]
    assert [d.name for d in (tmp_path / dataset_store.DATASETS_DIR).iterdir()] == ["new"]


def test_an_unconditional_dataset_has_seeds_but_no_labels(tmp_path):
    spec = SynthesisSpec(model="m", version="000001", n=4, format="png")
    metadata = {**METADATA, "classes": None}
    facts = dataset_archive.manifest(spec, metadata, "f" * 64, None)
    path = dataset_store.save(tmp_path / "u", facts, 60, lambda p: dataset_archive.write(
        p, facts, generate(Stripes(), 8, spec.seeds, None, 1.0, torch.device("cpu")), None))
    with tarfile.open(path) as tar:
        assert tar.extractfile("labels.csv").read().decode().splitlines()[:2] == ["file,seed", "images/000000.png,0"]
    assert facts["labels"] is None and "label=" not in facts["seed_url"]

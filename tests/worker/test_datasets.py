import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from models.spec import DatasetSpec
from worker import datasets


def _write_idx(path, array, gz):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directories_load_gzipped_or_not(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 255, (20, 28, 28))
    labels = np.arange(20) % 10
    suffix = ".gz" if gz else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, gz)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, gz)
    data = datasets.load(DatasetSpec(kind="idx", path=str(tmp_path)), 32, 32, 1, tmp_path, [tmp_path])
    assert data.images.shape == (20, 1, 32, 32) and data.images.dtype.is_floating_point is False
    assert data.labels.tolist() == labels.tolist() and data.class_names == [str(i) for i in range(10)]


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(datasets.DatasetError, match="does not exist"):
        datasets.load(DatasetSpec(kind="idx", path=str(tmp_path / "nope")), 28, 28, 1, tmp_path, [tmp_path])


def test_paths_outside_the_data_roots_are_refused(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    for path in ("/etc", str(tmp_path / "root" / ".." ), str(tmp_path / "root" / "link")):
        with pytest.raises(ValueError, match="outside the allowed data roots"):
            datasets.load(DatasetSpec(kind="folder", path=path), 32, 32, 3, tmp_path, [tmp_path / "root"])


def test_image_folders_mix_sizes_and_modes_skip_broken_files_and_take_classes_from_subfolders(tmp_path):
    for cls, mode, size in (("cats", "RGB", (40, 30)), ("dogs", "L", (10, 12))):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new(mode, size, color=i * 40).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    data = datasets.load(DatasetSpec(kind="folder", path=str(tmp_path)), 16, 24, 3, tmp_path, [tmp_path])
    assert data.images.shape == (6, 3, 16, 24)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_synthetic_data_has_ten_classes_of_the_requested_shape():
    data = datasets.load(DatasetSpec(kind="synthetic", limit=40), 28, 28, 3, None, [])
    assert data.images.shape == (40, 3, 28, 28) and sorted(set(data.labels.tolist())) == list(range(10))


def test_unreadable_and_one_pixel_images_are_skipped_and_counted_in_warnings(tmp_path):
    for i in range(4):
        Image.new("RGB", (20, 20), color=(i * 50, 0, 0)).save(tmp_path / f"good{i}.png")
    Image.new("L", (30, 10)).save(tmp_path / "gray.jpg")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    (tmp_path / "text.png").write_text("this is not an image")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "good0.png").read_bytes()[:40])
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    data = datasets.load(DatasetSpec(kind="folder", path=str(tmp_path)), 16, 16, 1, tmp_path, [tmp_path])
    assert data.images.shape == (5, 1, 16, 16)
    assert any("skipped 2 of 8 image files" in w for w in data.warnings), data.warnings
    assert any("skipped 1 images smaller than" in w for w in data.warnings), data.warnings


def test_a_folder_with_nothing_usable_fails_saying_why(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(datasets.DatasetError, match="none of the 2 image files .* could be used: skipped 1"):
        datasets.load(DatasetSpec(kind="folder", path=str(tmp_path)), 16, 16, 1, tmp_path, [tmp_path])

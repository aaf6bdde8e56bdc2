"""The shipped extractor is the one its card describes: hash pinned, accuracy reproducible."""

from pathlib import Path

import pytest
import torch

from models import idx
from models.evaluator import DEFAULT_VERSION, card, load_evaluator

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_the_shipped_extractor_loads_against_its_pinned_hash():
    extractor = load_evaluator()
    assert extractor.version == DEFAULT_VERSION and extractor.classifies


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST is not installed")
def test_the_shipped_extractor_reaches_its_recorded_test_accuracy_of_at_least_092():
    torch.set_num_threads(1)
    images, labels = idx.read_split(FASHION, "test")
    x = torch.from_numpy(images.copy())[:, None].float().div(127.5).sub(1.0)
    _, logits = load_evaluator()(x)
    accuracy = (logits.argmax(1).numpy() == labels).mean()
    assert accuracy >= 0.92 and accuracy == pytest.approx(card()["test_accuracy"], abs=1e-3)

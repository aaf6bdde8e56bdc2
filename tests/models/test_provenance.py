"""The facts of an image as text: the same text as JSON would write, read back as what they stand for."""

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from models.images import encode_png
from models.provenance import SOFTWARE, Provenance, _listed


@pytest.mark.parametrize("values", [[1, 2, 3], ["Sneaker", "Käse ☕", 'a"b'], [[1, 2], [3]], [None, 5]])
@pytest.mark.parametrize("ascii_only", [True, False])
def test_listed_facts_read_as_the_json_array_they_stand_for(values, ascii_only):
    assert json.loads(f"[{_listed(values, ascii_only)}]") == values
    assert _listed(values, ascii_only).isascii() or not ascii_only


def test_one_image_of_a_per_image_answer_names_only_its_own_seed_and_label():
    version = SimpleNamespace(name="m", version="000003", metadata={"files": {"generator.safetensors": "ab" * 32}})
    whole = Provenance.of(version, [4, 5], ["boot", "sandal"], 0.7)
    png = whole.of_image(1).stamp(encode_png(np.zeros((4, 4, 1), np.uint8)))
    assert Image.open(io.BytesIO(png)).text == {"model": "m", "version": "000003", "weights_sha256": "ab" * 32,
                                                 "seeds": "5", "labels": '"sandal"', "truncation": "0.7",
                                                 "Software": SOFTWARE}

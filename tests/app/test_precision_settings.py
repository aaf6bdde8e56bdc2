"""Precision settings: a default, per-model overrides, and names checked against the valid list at start."""

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_per_model_precision_overrides_the_default():
    settings = Settings(inference_precision="auto", model_precision="fashion-cdcgan=fp32, faces=bf16")
    assert settings.precision_for("fashion-cdcgan") == "fp32"
    assert settings.precision_for("faces") == "bf16"
    assert settings.precision_for("other") == "auto"


@pytest.mark.parametrize("field,value", [("inference_precision", "fp8"), ("model_precision", "faces=int4"),
                                         ("model_precision", "=bf16")])
def test_an_unknown_precision_is_refused_with_the_valid_list(field, value):
    with pytest.raises(ValidationError, match="auto, fp32, bf16, fp16"):
        Settings(**{field: value})

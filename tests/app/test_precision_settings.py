"""The precision setting: a default, per-model exceptions, and names checked against the valid list at start."""

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_per_model_precision_overrides_the_default():
    settings = Settings(inference_precision="auto, fashion-cdcgan=fp32, faces=bf16")
    assert settings.precision_for("fashion-cdcgan") == "fp32"
    assert settings.precision_for("faces") == "bf16"
    assert settings.precision_for("other") == "auto"
    assert Settings(inference_precision="fp32").precision_for("other") == "fp32"
    assert Settings(inference_precision="faces=bf16").precision_for("other") == "auto"


@pytest.mark.parametrize("value", ["fp8", "auto,faces=int4", "=bf16", "auto,=bf16"])
def test_an_unknown_precision_is_refused_with_the_valid_list(value):
    with pytest.raises(ValidationError, match="auto, fp32, bf16, fp16"):
        Settings(inference_precision=value)

"""Garbage in, a 4xx out that names the problem: the schema's limits and hostile values, over real HTTP."""

import pytest

from app.schemas import MAX_BATCH_SIZE, MAX_GROUP, MAX_IMAGE_SIDE, MAX_IMAGES, MAX_TERMS, MAX_TRAIN_STEPS, MAX_VARIATIONS


@pytest.mark.parametrize("path,body,field", [
    ("/generate", {"model": "bars", "n": MAX_IMAGES + 1}, "n"),
    ("/generate", {"model": "bars", "seeds": list(range(MAX_IMAGES + 1))}, "seeds"),
    ("/interpolate", {"model": "bars", "start": {"seed": 1}, "end": {"seed": 2}, "steps": MAX_IMAGES + 1}, "steps"),
    ("/arithmetic", {"model": "bars", "terms": [{"seeds": [1]}] * (MAX_TERMS + 1)}, "terms"),
    ("/arithmetic", {"model": "bars", "terms": [{"seeds": list(range(MAX_GROUP + 1))}]}, "terms"),
    ("/arithmetic", {"model": "bars", "terms": [{"seeds": [1]}], "variations": MAX_VARIATIONS + 1}, "variations"),
    ("/train", {"model": "m", "dataset": {"kind": "synthetic"}, "steps": MAX_TRAIN_STEPS + 1}, "steps"),
    ("/train", {"model": "m", "dataset": {"kind": "synthetic"}, "batch_size": MAX_BATCH_SIZE + 1}, "batch_size"),
    ("/train", {"model": "m", "dataset": {"kind": "synthetic"}, "image_size": MAX_IMAGE_SIDE * 2}, "image_size"),
])
def test_limits_are_422_naming_the_field_and_the_limit(live, path, body, field):
    r = live.post(path, json=body)
    assert r.status_code == 422, r.text
    assert any(field in map(str, e["loc"]) for e in r.json()["detail"]), r.text
    assert "at most" in r.text or "less than or equal" in r.text


def test_the_limits_show_in_the_openapi_document(live):
    schemas = live.get("/openapi.json").json()["components"]["schemas"]

    def bound(model: str, field: str, key: str) -> int:
        found = [option.get(key) for option in schemas[model]["properties"][field].get("anyOf", [])]
        return next((v for v in found if v is not None), schemas[model]["properties"][field].get(key))

    assert bound("GenerateRequest", "seeds", "maxItems") == MAX_IMAGES
    assert bound("GenerateRequest", "n", "maximum") == MAX_IMAGES
    assert schemas["InterpolateRequest"]["properties"]["steps"]["maximum"] == MAX_IMAGES
    assert schemas["ArithmeticRequest"]["properties"]["terms"]["maxItems"] == MAX_TERMS
    assert schemas["ArithmeticRequest"]["properties"]["variations"]["maximum"] == MAX_VARIATIONS
    assert bound("Term", "seeds", "maxItems") == MAX_GROUP
    assert schemas["TrainRequest"]["properties"]["steps"]["maximum"] == MAX_TRAIN_STEPS
    assert schemas["TrainRequest"]["properties"]["batch_size"]["maximum"] == MAX_BATCH_SIZE


@pytest.mark.parametrize("body,field", [
    ({"model": "bars", "latents": [[1e308] * 100]}, "latents"),
    ({"model": "bars", "latents": [[-1e30] + [0.0] * 99]}, "latents"),
    ({"model": "bars", "latents": []}, "latents"),
    ({"model": "bars", "latents": [[]]}, "latents"),
    ({"model": "bars", "latents": [[0.0] * 101]}, "latents"),
    ({"model": "bars", "seeds": []}, "seeds"),
    ({"model": "bars", "seeds": "1,2"}, "seeds"),
    ({"model": "bars", "seeds": [2**64]}, "seeds"),
    ({"model": "bars", "seeds": [1.5]}, "seeds"),
    ({"model": "bars", "seeds": [None]}, "seeds"),
    ({"model": "bars", "n": 2**70}, "n"),
    ({"model": "bars", "seeds": [1], "truncation": 1e308}, "truncation"),
    ({"model": "bars", "seeds": [1], "format": "bmp"}, "format"),
    ({"model": ["bars"], "seeds": [1]}, "model"),
    ({"model": "", "seeds": [1]}, "model"),
    ({"model": "x" * 10_000, "seeds": [1]}, "model"),
    ({"model": "bars-cond", "seeds": [1], "labels": [[0]]}, "labels"),
    ({"model": "bars-cond", "seeds": [1], "labels": ["bar-1" * 100]}, "labels"),
])
def test_hostile_generate_values_are_422_naming_the_field(live, body, field):
    r = live.post("/generate", json=body)
    assert r.status_code == 422, r.text
    assert any(field in map(str, e["loc"]) for e in r.json()["detail"]), r.text


def test_huge_arithmetic_weights_and_nan_in_terms_are_refused(live):
    r = live.post("/arithmetic", json={"model": "bars", "terms": [{"weight": 1e308, "seeds": [1]}]})
    assert r.status_code == 422 and "weight" in r.text
    raw = b'{"model": "bars", "terms": [{"weight": NaN, "seeds": [1]}]}'
    r = live.post("/arithmetic", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_deeply_nested_json_is_a_4xx_with_a_reason(live, depth):
    raw = b'{"model": "bars", "seeds": ' + b"[" * depth + b"]" * depth + b"}"
    r = live.post("/generate", content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["detail"], r.text


@pytest.mark.parametrize("name", ["модель", "模型", "😀", "bars\u0000", "bars\u202e", "ba rs", "café"])
def test_unicode_model_names_are_unknown_or_refused_never_a_crash(live, name):
    r = live.post("/generate", json={"model": name, "seeds": [1]})
    assert r.status_code in (404, 422) and r.json()["detail"], r.text
    r = live.post("/train", json={"model": name, "dataset": {"kind": "synthetic"}, "steps": 5})
    assert r.status_code == 422 and "invalid model name" in r.text


def test_a_non_json_content_type_is_a_4xx_with_a_reason(live):
    r = live.post("/generate", content=b"model=bars&seeds=1", headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500 and r.json()["detail"]

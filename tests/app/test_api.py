"""The HTTP contract, through real HTTP against the live app serving tiny trained models."""

import base64
import io

import pytest
from PIL import Image


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_models_lists_versions_latest_and_shape(live):
    models = {m["name"]: m for m in live.get("/models").json()["models"]}
    cond = models["bars-cond"]
    assert cond["versions"] == ["000001", "000002"] and cond["latest"] == "000002"
    assert cond["conditional"] is True and cond["classes"][0] == "bar-0"
    assert cond["latent_dim"] == 100 and cond["image"] == {"height": 32, "width": 32, "channels": 1}
    assert models["bars"]["image"] == {"height": 16, "width": 24, "channels": 3}
    assert models["bars"]["conditional"] is False


def test_model_detail_has_each_versions_metadata(live):
    body = live.get("/models/bars-cond").json()
    assert body["version_details"]["000001"]["metadata"]["step"] == 2
    assert body["version_details"]["000002"]["valid"] is True


def test_generate_seeds_answers_a_grid_png_naming_model_and_version(live):
    r = live.post("/generate", json={"model": "bars-cond", "seeds": [1, 2, 3], "labels": ["bar-7"]})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["x-model"] == "bars-cond" and r.headers["x-model-version"] == "000002"
    assert r.headers["x-seeds"] == "1,2,3"
    assert _png(r.content).size[0] > 32  # a grid, not one image


def test_generate_one_seed_answers_the_image_itself(live):
    r = live.post("/generate", json={"model": "bars", "seeds": [5]})
    image = _png(r.content)
    assert image.size == (24, 16) and image.mode == "RGB"


def test_same_seed_version_and_label_give_the_same_bytes(live):
    body = {"model": "bars-cond", "seeds": [11], "labels": [3], "version": "1"}
    assert live.post("/generate", json=body).content == live.post("/generate", json=body).content


def test_generate_latents_as_json(live):
    r = live.post("/generate", json={"model": "bars-cond", "latents": [[0.1] * 100], "labels": [7],
                                     "format": "json"})
    body = r.json()
    assert body["version"] == "000002" and body["images"][0]["label"] == "bar-7"
    assert _png(base64.b64decode(body["images"][0]["png_base64"])).size == (32, 32)


def test_generate_n_reports_the_seeds_it_drew(live):
    body = live.post("/generate", json={"model": "bars", "n": 3, "format": "json"}).json()
    seeds = [i["seed"] for i in body["images"]]
    assert len(seeds) == 3 and all(isinstance(s, int) for s in seeds)
    again = live.post("/generate", json={"model": "bars", "seeds": seeds[:1], "format": "json"}).json()
    assert again["images"][0]["png_base64"] == body["images"][0]["png_base64"]


def test_labels_change_the_image_of_a_conditional_model(live):
    a = live.post("/generate", json={"model": "bars-cond", "seeds": [1], "labels": [0]}).content
    b = live.post("/generate", json={"model": "bars-cond", "seeds": [1], "labels": [9]}).content
    assert a != b


def test_seed_url_is_cacheable(live):
    r = live.get("/models/bars-cond/seeds/42.png", params={"label": "bar-2"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["etag"] and "max-age" in r.headers["cache-control"]
    again = live.get("/models/bars-cond/seeds/42.png", params={"label": "bar-2"},
                     headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_seed_url_pinned_to_a_version_is_immutable(live):
    r = live.get("/models/bars-cond/seeds/42.png", params={"label": "2", "version": "000001"})
    assert "immutable" in r.headers["cache-control"] and r.headers["x-model-version"] == "000001"


def test_cors_headers_for_front_end_apps(live):
    r = live.get("/models/bars/seeds/1.png", headers={"Origin": "https://example.org"})
    assert r.headers["access-control-allow-origin"] in ("*", "https://example.org")


@pytest.mark.parametrize("fmt,media", [("gif", "image/gif"), ("webp", "image/webp"), ("png", "image/png")])
def test_interpolate_formats(live, fmt, media):
    r = live.post("/interpolate", json={"model": "bars-cond", "start": {"seed": 1, "label": "bar-1"},
                                        "end": {"seed": 2, "label": "bar-5"}, "steps": 8, "method": "slerp",
                                        "format": fmt})
    assert r.status_code == 200 and r.headers["content-type"] == media
    if fmt != "png":
        assert getattr(_png(r.content), "n_frames", 1) == 8


def test_interpolate_json_frames_from_latents(live):
    r = live.post("/interpolate", json={"model": "bars", "start": {"latent": [0.0] * 100},
                                        "end": {"seed": 3}, "steps": 4, "method": "lerp", "format": "json"})
    assert len(r.json()["frames"]) == 4


def test_arithmetic_grid_and_json(live):
    body = {"model": "bars-cond", "terms": [{"weight": 1, "seeds": [1, 2, 3], "label": "bar-3"},
                                            {"weight": -1, "seeds": [4, 5, 6], "label": "bar-3"},
                                            {"weight": 1, "seeds": [7, 8, 9], "label": "bar-4"}], "variations": 8}
    r = live.post("/arithmetic", json=body)
    assert r.status_code == 200 and _png(r.content).size[0] > 12 * 32
    out = live.post("/arithmetic", json=body | {"format": "json"}).json()
    assert len(out["terms"]) == 3 and len(out["variations"]) == 8 and len(out["result_latent"]) == 100


@pytest.mark.parametrize("body,field", [
    ({"model": "bars", "latents": [[0.1] * 99]}, "latents"),
    ({"model": "bars", "seeds": [1], "labels": [0]}, "labels"),
    ({"model": "bars-cond", "seeds": [1]}, "labels"),
    ({"model": "bars-cond", "seeds": [1], "labels": ["Sneaker"]}, "labels"),
    ({"model": "bars-cond", "seeds": [1], "labels": [10]}, "labels"),
    ({"model": "bars-cond", "seeds": [1, 2], "labels": [1, 2, 3]}, "labels"),
    ({"model": "bars", "n": 65}, "n"),
    ({"model": "bars", "seeds": [1], "n": 2}, "body"),
    ({"model": "bars"}, "body"),
    ({"model": "bars", "latents": [[1e9] * 100]}, "latents"),
    ({"model": "bars", "seeds": [-1]}, "seeds"),
    ({"model": "bars", "seeds": [1], "truncation": 0}, "truncation"),
    ({"model": "bars", "seeds": [1], "surprise": 1}, "surprise"),
])
def test_bad_generate_requests_are_422_naming_the_field(live, body, field):
    r = live.post("/generate", json=body)
    assert r.status_code == 422, r.text
    assert any(field in [str(x) for x in e["loc"]] for e in r.json()["detail"]), r.text


@pytest.mark.parametrize("raw", [b'{"model": "bars", "latents": [[NaN' + b', 0.0' * 99 + b']]}',
                                 b'{"model": "bars", "latents": [[Infinity' + b', 0.0' * 99 + b']]}',
                                 b'{"model": "bars", "seeds": [1,', b"not json at all"])
def test_nan_infinity_and_malformed_json_are_422(live, raw):
    r = live.post("/generate", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]


@pytest.mark.parametrize("method,path,body", [
    ("post", "/generate", {"model": "nope", "seeds": [1]}),
    ("post", "/generate", {"model": "bars", "version": "9", "seeds": [1]}),
    ("get", "/models/nope", None),
    ("get", "/models/nope/seeds/1.png", None),
    ("get", "/train/no-such-job", None),
    ("delete", "/train/no-such-job", None),
    ("post", "/interpolate", {"model": "nope", "start": {"seed": 1}, "end": {"seed": 2}}),
    ("post", "/arithmetic", {"model": "nope", "terms": [{"seeds": [1]}]}),
])
def test_unknown_model_version_or_job_is_404(live, method, path, body):
    r = getattr(live, method)(path, **({"json": body} if body else {}))
    assert r.status_code == 404 and r.json()["detail"]


def test_interpolation_steps_outside_limits_are_422(live):
    for steps in (1, 65):
        r = live.post("/interpolate", json={"model": "bars", "start": {"seed": 1}, "end": {"seed": 2}, "steps": steps})
        assert r.status_code == 422


def test_train_enqueues_and_reports_a_queued_job(live):
    r = live.post("/train", json={"model": "my-gan", "dataset": {"kind": "synthetic"}, "architecture": "dcgan",
                                  "image_size": 32, "channels": 1, "batch_size": 16, "steps": 40,
                                  "checkpoint_every": 20, "seed": 0})
    assert r.status_code == 202
    job = r.json()
    assert job["status_url"].endswith(f"/train/{job['id']}")
    status = live.get(f"/train/{job['id']}").json()
    assert status["status"] == "queued" and status["model"] == "my-gan" and status["versions"] == []
    assert job["id"] in [j["id"] for j in live.get("/train").json()["jobs"]]
    assert live.delete(f"/train/{job['id']}").json()["status"] == "canceled"


@pytest.mark.parametrize("patch,field", [
    ({"architecture": "stylegan9"}, "architecture"),
    ({"steps": 10_000_000}, "steps"),
    ({"batch_size": 100_000}, "batch_size"),
    ({"image_size": 27}, "image_size"),
    ({"model": "../escape"}, "model"),
    ({"dataset": {"kind": "folder", "path": "/etc"}}, "dataset"),
    ({"dataset": {"kind": "idx"}}, "dataset"),
])
def test_bad_training_jobs_are_refused_before_enqueueing(live, patch, field):
    body = {"model": "my-gan", "dataset": {"kind": "synthetic"}, "steps": 10} | patch
    r = live.post("/train", json=body)
    assert r.status_code == 422, r.text
    assert any(field in [str(x) for x in e["loc"]] for e in r.json()["detail"]), r.text


def test_health_and_readiness(live):
    assert live.get("/healthz").json() == {"status": "ok"}
    ready = live.get("/readyz").json()
    assert ready["redis"]["reachable"] is True and ready["registry"]["readable"] is True


def test_openapi_schema_documents_examples(live):
    schema = live.get("/openapi.json").json()
    assert "/generate" in schema["paths"] and "/train" in schema["paths"]
    assert schema["components"]["schemas"]["GenerateRequest"]["examples"]

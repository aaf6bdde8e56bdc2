"""Looking inside the networks over real HTTP: GET .../filters.png draws the trained weights nearest the image,
POST /visualize draws one generator layer's activations for one latent, and bad requests get a 422 or a 404 that
says what to fix."""

import base64
import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from models import checkpoint, inspection
from models.latents import seed_latents
from tests.conftest import make_app
from tests.support import LiveServer

TILE = 48  # inspection.TILE_SIDE: tiles are enlarged to at most this side
GUTTER = 2  # images.grid's


def pixels(png: bytes) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(png)))
    return image if image.ndim == 3 else image[:, :, None]


def newest(registry, model: str):
    return sorted(p for p in (registry / model).iterdir() if p.name.isdigit())[-1]


def normalised(values: np.ndarray) -> np.ndarray:
    """Each of the (N, ...) values stretched to 0..255 on its own, computed here rather than by the service."""
    low = values.min(axis=tuple(range(1, values.ndim)), keepdims=True)
    high = values.max(axis=tuple(range(1, values.ndim)), keepdims=True)
    return (values - low) / (high - low) * 255


def tile(picture: np.ndarray, index: int, count: int, height: int, width: int, scale: int, left: int = 0):
    """The `index`-th tile of a grid of `count` (h, w) tiles enlarged `scale` times, read back at its own size."""
    columns = int(np.ceil(np.sqrt(count)))
    row, column = divmod(index, columns)
    top = GUTTER + row * (height * scale + GUTTER)
    start = left + GUTTER + column * (width * scale + GUTTER)
    return picture[top : top + height * scale : scale, start : start + width * scale : scale]


def test_filters_png_draws_the_generators_last_and_the_discriminators_first_weights(live, tiny_registry):
    r = live.get("/models/bars/versions/000002/filters.png")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and "immutable" in r.headers["cache-control"]
    assert r.headers["x-panels"] == "generator,discriminator"
    assert r.headers["x-generator-filters"] == "8 of 8" and r.headers["x-discriminator-filters"] == "8 of 8"
    assert r.headers["x-model-version"] == "000002" and "x-weights-sha256" in r.headers
    picture = pixels(r.content)
    assert picture.shape[2] == 3  # RGB filters in colour

    state = load_file(str(newest(tiny_registry, "bars") / checkpoint.WEIGHTS))
    painter = state["body.3.weight"].numpy().transpose(0, 2, 3, 1)  # ConvTranspose2d (in, RGB, 4, 4)
    d_state = load_file(str(newest(tiny_registry, "bars") / checkpoint.DISCRIMINATOR))
    first = d_state["body.0.weight"].numpy().transpose(0, 2, 3, 1)  # Conv2d (out, RGB, 4, 4)
    scale = TILE // 4
    panel = GUTTER + 3 * (4 * scale + GUTTER)  # 8 tiles: 3 columns
    for i in range(8):
        np.testing.assert_allclose(tile(picture, i, 8, 4, 4, scale), normalised(painter)[i], atol=1)
        np.testing.assert_allclose(tile(picture, i, 8, 4, 4, scale, left=panel + inspection.PANEL_GAP),
                                   normalised(first)[i], atol=1)


def test_a_conditional_discriminator_shows_its_image_weights_without_the_label_maps(live, tiny_registry):
    r = live.get("/models/bars-cond/versions/000002/filters.png")
    assert r.status_code == 200, r.text
    picture = pixels(r.content)
    assert picture.shape[2] == 1
    d_state = load_file(str(newest(tiny_registry, "bars-cond") / checkpoint.DISCRIMINATOR))
    image_side = d_state["body.0.weight"].numpy()[:, :1].transpose(0, 2, 3, 1)  # channel 0: the image
    count, scale = len(image_side), TILE // 4
    assert r.headers["x-discriminator-filters"] == f"{count} of {count}"
    painters = int(r.headers["x-generator-filters"].split(" of ")[0])
    left = GUTTER + int(np.ceil(np.sqrt(painters))) * (4 * scale + GUTTER) + inspection.PANEL_GAP
    np.testing.assert_allclose(tile(picture, 0, count, 4, 4, scale, left=left), normalised(image_side)[0], atol=1)


def test_filters_of_a_moving_name_redirect_to_the_pinned_version(live):
    r = live.get("/models/bars/versions/latest/filters.png")
    assert r.status_code == 307 and r.headers["location"].endswith("/models/bars/versions/000002/filters.png")
    assert live.get("/models/bars/versions/1/filters.png").headers["location"].endswith("/versions/000001/filters.png")
    for path in ("/models/bars/versions/000009/filters.png", "/models/nothing/versions/latest/filters.png"):
        assert live.get(path).status_code == 404, path


def test_a_version_without_its_discriminator_draws_the_generator_alone(tmp_path, tiny_registry, redis_server):
    shutil.copytree(tiny_registry / "bars", tmp_path / "bars")
    directory = newest(tmp_path, "bars")
    metadata = json.loads((directory / checkpoint.METADATA).read_text())
    del metadata["files"][checkpoint.DISCRIMINATOR]
    (directory / checkpoint.DISCRIMINATOR).unlink()
    (directory / checkpoint.METADATA).write_text(json.dumps(metadata))
    with LiveServer(make_app(tmp_path, redis_server.url)) as server, server.client() as client:
        r = client.get(f"/models/bars/versions/{directory.name}/filters.png")
    assert r.status_code == 200, r.text
    assert r.headers["x-panels"] == "generator" and "without its discriminator" in r.headers["x-discriminator"]
    assert pixels(r.content).shape[1] == GUTTER + 3 * (TILE + GUTTER)  # one panel of 8 tiles


def test_visualize_draws_the_layer_the_generator_computes_for_the_seed(live, tiny_registry):
    r = live.post("/visualize", json={"model": "bars", "seed": 3, "layer": "up1"})
    assert r.status_code == 200, r.text
    assert r.headers["x-layer"] == "up1" and r.headers["x-layers"] == "project,up1,image"
    assert r.headers["x-channels"] == "8" and r.headers["x-channels-shown"] == "8"
    assert r.headers["x-seeds"] == "3" and r.headers["x-model-version"] == "000002"
    scale = int(r.headers["x-map-scale"])
    assert scale == TILE // 12

    generator, metadata = checkpoint.load_generator(newest(tiny_registry, "bars"))
    seen = {}
    generator.body[2].register_forward_hook(lambda m, args, out: seen.setdefault("up1", out.clone()))
    with torch.no_grad():
        generator(seed_latents([3], metadata["latent_dim"]))
    maps = seen["up1"][0].numpy()  # (8, 8, 12): the first up-block after its ReLU
    picture = pixels(r.content)
    for channel in range(8):
        np.testing.assert_allclose(tile(picture, channel, 8, 8, 12, scale)[:, :, 0],
                                   np.nan_to_num(normalised(maps[channel : channel + 1])[0]), atol=1)


def test_the_json_answer_lists_the_layers_and_a_latent_draws_as_its_seed_does(live):
    r = live.post("/visualize", json={"model": "bars-cond", "seed": 5, "label": "bar-3", "format": "json"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["layer"] == "project"  # the first, when none is named
    assert [layer["name"] for layer in answer["layers"]] == ["project", "up1", "up2", "image"]
    assert answer["layers"][-1]["shape"] == [1, 32, 32]
    assert answer["channels"] == answer["layers"][0]["shape"][0] and r.headers["x-labels"] == '"bar-3"'
    latent = seed_latents([5], 100)[0].tolist()
    by_latent = live.post("/visualize", json={"model": "bars-cond", "latent": latent, "label": 3, "format": "json"})
    assert by_latent.status_code == 200, by_latent.text
    np.testing.assert_array_equal(pixels(base64.b64decode(by_latent.json()["png_base64"])),
                                  pixels(base64.b64decode(answer["png_base64"])))
    other = live.post("/visualize", json={"model": "bars-cond", "seed": 5, "label": "bar-6", "format": "json"})
    assert other.json()["png_base64"] != answer["png_base64"]  # the class is part of the generator's input


@pytest.mark.parametrize("body, field, message", [
    ({"model": "bars", "seed": 1, "layer": "conv9"}, "layer", "this model's layers: project, up1, image"),
    ({"model": "bars", "seed": 1, "latent": [0.0] * 100}, "", "exactly one of seed, latent"),
    ({"model": "bars"}, "", "exactly one of seed, latent"),
    ({"model": "bars", "latent": [0.0] * 7}, "latent.0", "takes 100"),
    ({"model": "bars-cond", "seed": 1}, "label", "is conditional"),
    ({"model": "bars-cond", "seed": 1, "label": "nothing"}, "label", "unknown class"),
    ({"model": "bars", "seed": 1, "label": 1}, "label", "unconditional"),
    ({"model": "bars", "seed": 1, "format": "gif"}, "format", ""),
])
def test_bad_requests_get_a_422_naming_the_field(live, body, field, message):
    r = live.post("/visualize", json=body)
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert message in detail["msg"], detail
    if field:
        assert detail["loc"][-len(field.split(".")):] == field.split("."), detail


def test_an_unknown_model_or_version_is_a_404(live):
    assert live.post("/visualize", json={"model": "nothing", "seed": 1}).status_code == 404
    assert live.post("/visualize", json={"model": "bars", "version": "9", "seed": 1}).status_code == 404

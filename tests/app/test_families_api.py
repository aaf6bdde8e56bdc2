"""Every new family, trained for real, is served by /generate, /interpolate and /arithmetic over real HTTP;
a job's samples, metrics and plot are answered from the files the worker writes."""

import io

import pytest
import torch
from PIL import Image

from models import jobfiles
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny

torch.set_num_threads(1)

# model name -> (architecture, image size, channels, extra spec fields)
FAMILIES = {
    "mlp": ("gan", 16, 1, {}),
    "mlp-cond": ("cgan", 16, 1, {"condition": "concatenate"}),
    "wasser": ("wgan", 16, 3, {}),
    "wasser-gp": ("wgan-gp", 32, 1, {}),
    "grown": ("progan", 16, 3, {"growth_phase_steps": 1}),
    "wide": ("dcgan", (16, 20), 3, {"kernel_size": 5, "upsample": "nearest"}),
    "cond-dc": ("cdcgan", 16, 1, {}),
}
CONDITIONAL = ("cgan", "cdcgan")


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def family_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    for name, (architecture, size, channels, extra) in FAMILIES.items():
        train_tiny(root, name, architecture, steps=6, image_size=size, channels=channels, **extra)
    return root


@pytest.fixture(scope="module")
def server(family_registry, redis_server):
    with LiveServer(make_app(family_registry, redis_server.url)) as live:
        with live.client() as client:
            yield client, family_registry


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_generate_serves_each_family_at_its_size_and_channels(server, name):
    client, _ = server
    architecture, size, channels, _ = FAMILIES[name]
    height, width = (size, size) if isinstance(size, int) else size
    body = {"model": name, "seeds": [3]} | ({"labels": [2]} if architecture in CONDITIONAL else {})
    r = client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    image = _png(r.content)
    assert image.size == (width, height) and image.mode == ("RGB" if channels == 3 else "L")
    assert client.get("/models/" + name).json()["architecture"] == architecture


@pytest.mark.parametrize("name", sorted(n for n, family in FAMILIES.items() if family[0] != "progan"))
def test_truncation_changes_the_image_of_every_family_that_takes_it(server, name):
    client, _ = server
    body = {"model": name, "seeds": [3]} | ({"labels": [2]} if FAMILIES[name][0] in CONDITIONAL else {})
    assert client.get("/models/" + name).json()["truncates"]
    plain, truncated = (client.post("/generate", json=body | {"truncation": t}) for t in (1.0, 0.5))
    assert plain.status_code == truncated.status_code == 200, truncated.text
    assert plain.content != truncated.content


def test_truncation_is_refused_with_its_reason_where_the_generator_normalises_z(server):
    client, _ = server
    assert client.get("/models/grown").json()["truncates"] is False
    r = client.post("/generate", json={"model": "grown", "seeds": [3], "truncation": 0.5})
    assert r.status_code == 422 and "normalises each latent" in r.text, r.text
    assert client.get("/models/grown/seeds/3.png?truncation=0.7").status_code == 422
    walk = {"model": "grown", "start": {"seed": 1}, "end": {"seed": 2}, "steps": 2, "truncation": 0.5}
    assert client.post("/interpolate", json=walk).status_code == 422
    assert client.post("/generate", json={"model": "grown", "seeds": [3], "truncation": 1.0}).status_code == 200


def test_the_conditional_mlp_honours_labels(server):
    client, _ = server
    one = {"model": "mlp-cond", "seeds": [5], "labels": ["bar-1"]}
    assert client.post("/generate", json=one).content == client.post("/generate", json=one).content
    assert client.post("/generate", json=one | {"labels": ["bar-6"]}).content != client.post("/generate", json=one).content
    r = client.post("/generate", json={"model": "mlp-cond", "seeds": [5]})
    assert r.status_code == 422 and "conditional" in r.text


def test_walks_and_arithmetic_work_on_the_new_families(server):
    client, _ = server
    walk = client.post("/interpolate", json={"model": "mlp-cond", "start": {"seed": 1, "label": 0},
                                             "end": {"seed": 2, "label": 9}, "steps": 4, "format": "json"})
    assert walk.status_code == 200 and len(walk.json()["frames"]) == 4
    sums = client.post("/arithmetic", json={"model": "grown", "terms": [{"seeds": [1, 2]}, {"weight": -1, "seeds": [3]}]})
    assert sums.status_code == 200 and sums.headers["content-type"] == "image/png"


def test_a_progressive_checkpoint_records_its_growth_and_serves_at_the_final_size(server):
    client, _ = server
    details = client.get("/models/grown").json()["version_details"]["000001"]["metadata"]
    assert details["generator_config"]["height"] == 16
    assert details["effective"]["gradient_penalty"] == 10


# watching a job: the files the worker writes under <registry>/.jobs/<id>/

@pytest.fixture
def watched_job(server, family_registry):
    client, root = server
    job = client.post("/train", json={"model": "watched", "dataset": {"kind": "synthetic"}, "steps": 10}).json()
    directory = jobfiles.job_dir(root, job["id"])
    grid = (root / "mlp" / "000001" / "samples.png").read_bytes()
    for step in (10, 20):
        jobfiles.sample_path(directory, step).parent.mkdir(parents=True, exist_ok=True)
        jobfiles.sample_path(directory, step).write_bytes(grid)
    jobfiles.append_metrics(directory, [{"step": s, "loss_d": 1.2, "loss_g": 0.8, "score_d": 0.6, "score_g": 0.4}
                                        for s in (10, 20, 30)])
    yield client, job["id"]
    client.delete(f"/train/{job['id']}")


def test_samples_answers_the_latest_grid_or_an_earlier_kept_step(watched_job):
    client, job_id = watched_job
    latest = client.get(f"/train/{job_id}/samples")
    assert latest.status_code == 200 and latest.headers["x-step"] == "20" and _png(latest.content).size[0] > 16
    assert client.get(f"/train/{job_id}/samples", params={"step": 10}).headers["x-step"] == "10"
    missing = client.get(f"/train/{job_id}/samples", params={"step": 15})
    assert missing.status_code == 404 and "kept: 10, 20" in missing.text


def test_metrics_answers_the_series_and_only_new_records_after_a_step(watched_job):
    client, job_id = watched_job
    body = client.get(f"/train/{job_id}/metrics").json()
    assert [r["step"] for r in body["records"]] == [10, 20, 30] and body["sample_steps"] == [10, 20]
    assert [r["step"] for r in client.get(f"/train/{job_id}/metrics", params={"since_step": 20}).json()["records"]] == [30]


def test_plot_draws_the_curves_as_a_png(watched_job):
    client, job_id = watched_job
    r = client.get(f"/train/{job_id}/plot.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert _png(r.content).size == (800, 600)


def test_watching_an_unknown_job_or_one_without_files_is_404(server):
    client, _ = server
    assert client.get("/train/nosuchjob/metrics").status_code == 404
    assert "unknown training job" in client.get("/train/nosuchjob/plot.png").text
    assert client.get("/train/..%2Fmlp/samples").status_code == 404
    job = client.post("/train", json={"model": "quiet", "dataset": {"kind": "synthetic"}, "steps": 10}).json()
    r = client.get(f"/train/{job['id']}/samples")
    assert r.status_code == 404 and "no samples or metrics yet" in r.text
    client.delete(f"/train/{job['id']}")


def test_resuming_from_a_version_that_does_not_exist_is_refused_before_enqueueing(server):
    client, _ = server
    r = client.post("/train", json={"model": "more", "dataset": {"kind": "synthetic"}, "steps": 10,
                                    "resume": {"model": "mlp", "version": "7"}})
    assert r.status_code == 422 and "versions: 000001" in r.text

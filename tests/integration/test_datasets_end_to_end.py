"""Synthetic datasets with real processes: HTTP -> Redis -> RQ worker -> archive -> HTTP download, in both
formats, each image the one its seed URL serves."""

import csv
import io
import json
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cli.main import gan
from models import idx
from models.checkpoint import read_metadata
from models.registry import Registry
from tests.conftest import make_app
from tests.support import LiveServer, train_tiny, wait_until, worker_process

pytestmark = pytest.mark.integration

REQUEST = {"model": "tiny-cond", "n": 50, "classes": {"bar-2": 1, "bar-5": 1}, "truncation": 0.8,
           "first_seed": 1000}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    """A worker and the live API, serving in fp32: the precision the dataset job computes in."""
    tmp_path = tmp_path_factory.mktemp("datasets")
    registry = tmp_path / "registry"
    train_tiny(registry, "tiny-cond", "cdcgan", steps=2)
    queue = f"datasets-{tmp_path.name}"
    env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
           "GAN_PROGRESS_EVERY_S": "0.2", "GAN_TORCH_THREADS": "1"}
    worker = worker_process(env, tmp_path / "worker.log")
    try:
        app = make_app(registry, redis_server.url, queues=queue, inference_precision="fp32")
        with LiveServer(app) as server, server.client() as client:
            yield client, registry, tmp_path / "worker.log"
    finally:
        worker.terminate()
        worker.wait(20)


def _finished(client, job_id: str, worker_log) -> dict:
    def done():
        status = client.get(f"/datasets/{job_id}").json()
        assert status["status"] not in ("failed", "canceled"), (status, worker_log.read_text()[-3000:])
        return status if status["status"] == "finished" else None

    return wait_until(done, timeout=120, interval=0.3, what=f"dataset job {job_id}")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)), dtype=np.int16)


def test_datasets_in_both_formats_download_whole_or_in_ranges_and_match_the_seed_urls(stack, tmp_path):
    client, registry, worker_log = stack
    ids = {fmt: client.post("/datasets", json={**REQUEST, "format": fmt}).json()["id"] for fmt in ("png", "idx")}
    status = {fmt: _finished(client, job_id, worker_log) for fmt, job_id in ids.items()}
    assert status["png"]["progress"]["step"] == status["png"]["progress"]["total"] == 50
    assert status["png"]["download_url"].endswith(f"/datasets/{ids['png']}/download")

    archive = client.get(f"/datasets/{ids['png']}/download")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/gzip"
    part = client.get(f"/datasets/{ids['png']}/download", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == archive.content[100:200]

    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        rows = list(csv.DictReader(io.TextIOWrapper(tar.extractfile("labels.csv"))))
        pngs = [tar.extractfile(row["file"]).read() for row in rows]
    version = manifest["version"]
    metadata = read_metadata(Registry(registry).path("tiny-cond", version))
    assert manifest["weights_sha256"] == metadata["files"]["generator.safetensors"]
    assert manifest["seeds"] == {"first": 1000, "last": 1049} and manifest["truncation"] == 0.8
    assert manifest["software"].startswith("gan-service ")
    assert sorted(r["class"] for r in rows) == ["bar-2"] * 25 + ["bar-5"] * 25
    assert [int(r["seed"]) for r in rows] == list(range(1000, 1050))

    # the seed URL serves the same image; a batch of 50 and a single image may round one pixel differently
    for row, png in list(zip(rows, pngs))[:3]:
        served = client.get(f"/models/tiny-cond/seeds/{row['seed']}.png",
                            params={"label": row["class"], "truncation": 0.8, "version": version})
        assert np.abs(_pixels(served.content) - _pixels(png)).max() <= 1

    with tarfile.open(fileobj=io.BytesIO(client.get(f"/datasets/{ids['idx']}/download").content)) as tar:
        tar.extractall(tmp_path / "idx", filter="data")
    images, labels = idx.read_split(tmp_path / "idx", "train")
    assert np.array_equal(images, np.stack([_pixels(png) for png in pngs]).astype(np.uint8))
    assert labels.tolist() == [int(r["label"]) for r in rows]


def test_gan_dataset_submits_follows_and_downloads_resuming_a_cut_off_download(stack, tmp_path):
    client, _, _ = stack
    api = str(client.base_url)
    out = tmp_path / "bars.tar.gz"
    result = CliRunner().invoke(gan, ["dataset", "--model", "tiny-cond", "-n", "10", "--class", "bar-4=2",
                                      "--format", "idx", "--out", str(out), "--api", api])
    assert result.exit_code == 0, result.output
    with tarfile.open(out) as tar:
        assert json.load(tar.extractfile("manifest.json"))["class_counts"]["bar-4"] == 10

    job_id = client.post("/datasets", json={**REQUEST, "n": 20}).json()["id"]
    _finished(client, job_id, stack[2])
    whole = client.get(f"/datasets/{job_id}/download").content
    resumed = tmp_path / "resumed.tar.gz"
    (tmp_path / "resumed.tar.gz.part").write_bytes(whole[:500])
    result = CliRunner().invoke(gan, ["dataset", "--job", job_id, "--out", str(resumed), "--api", api])
    assert result.exit_code == 0, result.output
    assert resumed.read_bytes() == whole


def test_a_long_projection_runs_as_a_job_and_its_latent_walks(stack):
    """Projection jobs share this module's worker: the image is the model's own seed 7 of class bar-3."""
    client, _, worker_log = stack
    png = client.get("/models/tiny-cond/seeds/7.png", params={"label": "bar-3"}).content
    bad = client.post("/projections", data={"model": "tiny-cond", "label": "bar-3"},
                      files={"image": ("small.png", png[:20], "image/png")})
    assert bad.status_code == 422 and "image" in bad.text
    r = client.post("/projections", data={"model": "tiny-cond", "label": "bar-3", "steps": "1500"},
                    files={"image": ("seed7.png", png, "image/png")})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]

    def finished():
        status = client.get(f"/projections/{job_id}").json()
        assert status["status"] not in ("failed", "canceled"), (status, worker_log.read_text()[-3000:])
        return status if status["status"] == "finished" else None

    status = wait_until(finished, timeout=120, interval=0.3, what=f"projection job {job_id}")
    result = status["result"]
    assert status["kind"] == "projection" and result["steps"] == 1500 and result["label"] == "bar-3"
    assert result["losses_every"] == 2 and len(result["losses"]) == 750  # thinned to at most 1,000 points
    assert len(result["latent"]) == 100 and result["mse"] < 0.01
    walk = client.post("/interpolate", json={"model": "tiny-cond", "start": {"latent": result["latent"],
                       "label": "bar-3"}, "end": {"seed": 7, "label": "bar-3"}, "steps": 3, "format": "json"})
    assert walk.status_code == 200, walk.text
    dataset_job = client.post("/datasets", json={**REQUEST, "n": 1}).json()["id"]
    assert client.get(f"/projections/{dataset_job}").status_code == 404

"""Jobs that cannot train fail fast, once, with a message a user can act on in GET /train/{id}; messy image
folders train, with what was skipped listed in the job's warnings. Real worker, Redis and HTTP."""

import time

import pytest
from PIL import Image

from app.main import create_app
from tests.conftest import make_settings
from tests.support import LiveServer, wait_until, worker_process

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(tmp_path, redis_server):
    registry, data = tmp_path / "registry", tmp_path / "data"
    data.mkdir()
    queue = f"training-{tmp_path.name}"
    env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
           "GAN_DATA_ROOTS": str(data), "GAN_PROGRESS_EVERY_S": "0.2", "GAN_TORCH_THREADS": "1"}
    worker = worker_process(env, tmp_path / "worker.log")
    settings = make_settings(registry, redis_server.url, queues=queue, data_roots=str(data), job_retries=2)
    try:
        with LiveServer(create_app(settings, inference_in_process=True)) as server, server.client() as client:
            yield client, data
    finally:
        worker.terminate()
        worker.wait(20)


def _folder_job(path, **fields):
    return {"model": "folder-gan", "dataset": {"kind": "folder", "path": str(path)}, "architecture": "dcgan",
            "image_size": 16, "channels": 1, "batch_size": 4, "base_width": 8, "steps": 4, "checkpoint_every": 4,
            **fields}


def _ended(client, job_id):
    return wait_until(lambda: (s := client.get(f"/train/{job_id}").json())["status"] in ("failed", "finished") and s,
                      90, interval=0.2, what="the job to end")


def test_a_missing_dataset_directory_fails_once_saying_which(stack):
    client, data = stack
    job = client.post("/train", json=_folder_job(data / "not-there")).json()
    started = time.monotonic()
    status = _ended(client, job["id"])
    assert status["status"] == "failed" and status["attempts"] == 1  # a user error is not retried
    # named by its last component: a job's public view shows no server path
    assert "dataset directory not-there does not exist" in status["error"] and str(data) not in status["error"]
    assert time.monotonic() - started < 60


def test_fewer_images_than_one_batch_fails_saying_what_to_change(stack):
    client, data = stack
    (data / "few").mkdir()
    for i in range(3):
        Image.new("L", (16, 16), color=i * 60).save(data / "few" / f"{i}.png")
    status = _ended(client, client.post("/train", json=_folder_job(data / "few", batch_size=8)).json()["id"])
    assert status["status"] == "failed"
    assert "3 images, fewer than one batch of 8; lower batch_size or add images" in status["error"]


def test_a_messy_folder_trains_and_reports_what_it_skipped(stack):
    client, data = stack
    messy = data / "messy"
    messy.mkdir()
    for i, (mode, size) in enumerate([("RGB", (40, 30)), ("L", (16, 16)), ("RGBA", (20, 50)), ("P", (33, 17)),
                                      ("RGB", (8, 8)), ("L", (64, 64))]):
        Image.new(mode, size, color=40 * i).save(messy / f"{i}.png")
    Image.new("RGB", (1, 1)).save(messy / "one-pixel.png")
    (messy / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (messy / "readme.png").write_text("not an image at all")
    status = _ended(client, client.post("/train", json=_folder_job(messy)).json()["id"])
    assert status["status"] == "finished", status
    assert any("skipped 2 of 9 image files" in w for w in status["warnings"]), status["warnings"]
    assert any("skipped 1 images smaller than" in w for w in status["warnings"]), status["warnings"]

"""The whole path with real processes: HTTP -> Redis -> RQ worker -> registry -> hot swap -> HTTP."""

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.integration


def test_train_over_rest_then_generate_from_the_new_version_without_restart(stack):
    client, worker_log = stack
    job = client.post("/train", json={"model": "my-gan", "dataset": {"kind": "synthetic"}, "architecture": "dcgan",
                                      "image_size": 32, "channels": 1, "batch_size": 16, "steps": 40,
                                      "checkpoint_every": 20, "base_width": 16, "seed": 0}).json()

    def finished():
        status = client.get(f"/train/{job['id']}").json()
        assert status["status"] != "failed", (status, worker_log.read_text()[-3000:])
        return status if status["status"] == "finished" else None

    status = wait_until(finished, timeout=240, interval=0.5, what="the training job")
    assert status["versions"] == ["000001", "000002"]
    assert status["progress"]["step"] == 40 and status["progress"]["total"] == 40
    assert set(status["progress"]["losses"]) == {"d", "g"}

    # the API serves the job's newest version without restarting
    def serving_latest():
        r = client.post("/generate", json={"model": "my-gan", "seeds": [1]})
        return r.status_code == 200 and r.headers["x-model-version"] == "000002"

    wait_until(serving_latest, timeout=10, what="the new version to be served")
    assert client.get("/models/my-gan").json()["latest"] == "000002"


def test_a_running_job_can_be_canceled(stack):
    client, _ = stack
    job = client.post("/train", json={"model": "long", "dataset": {"kind": "synthetic"}, "image_size": 32,
                                      "batch_size": 8, "base_width": 8, "steps": 100_000,
                                      "checkpoint_every": 100_000}).json()
    wait_until(lambda: client.get(f"/train/{job['id']}").json()["status"] == "started", 60, what="job start")
    client.delete(f"/train/{job['id']}")
    status = wait_until(lambda: (s := client.get(f"/train/{job['id']}").json())["status"] == "canceled" and s,
                        60, interval=0.3, what="cancellation")
    assert status["progress"]["step"] < 100_000 and len(status["versions"]) == 1


def test_a_job_that_cannot_load_its_data_fails_with_a_message_a_user_can_act_on(stack, tmp_path):
    client, _ = stack
    job = client.post("/train", json={"model": "bad", "dataset": {"kind": "synthetic", "limit": 4},
                                      "batch_size": 16, "steps": 10}).json()
    status = wait_until(lambda: (s := client.get(f"/train/{job['id']}").json())["status"] == "failed" and s,
                        60, interval=0.3, what="the job to fail")
    assert "fewer than one batch" in status["error"]

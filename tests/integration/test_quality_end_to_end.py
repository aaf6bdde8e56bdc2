"""Scoring with real processes: a REST job whose checkpoints are scored, then a queued full evaluation."""

import pytest

from tests.support import wait_for_job

pytestmark = pytest.mark.integration


def test_published_checkpoints_carry_metrics_flags_warn_and_a_full_evaluation_lands(stack):
    client, worker_log = stack
    job = client.post("/train", json={"model": "scored", "dataset": {"kind": "synthetic"}, "architecture": "cdcgan",
                                      "image_size": 16, "batch_size": 16, "steps": 20, "checkpoint_every": 10,
                                      "base_width": 8, "eval_samples": 200}).json()
    status = wait_for_job(client, job["id"], worker_log)
    details = client.get("/models/scored").json()
    for version in status["versions"]:
        metrics = details["version_details"][version]["metrics"]
        assert metrics["n"] == 200 and metrics["fd"] >= 0 and "flags" in metrics
        assert status["metrics"][version]["fd"] == metrics["fd"]  # the job status carries the headline
        # every flag the scorer raised is a warning of the job, and a flagged version is never best
        for flag in metrics["flags"]:
            assert any(version in w and flag in w for w in status["warnings"])
    best = details["best"]
    assert best is None or details["version_details"][best]["metrics"]["flags"] == []

    queued = client.post(f"/models/scored/versions/{status['versions'][-1]}/evaluate", json={"n": 300}).json()
    wait_for_job(client, queued["id"], worker_log)
    evaluations = client.get("/models/scored").json()["version_details"][status["versions"][-1]]["evaluations"]
    (result,) = evaluations.values()
    assert result["n"] == 300 and result["fd"] >= 0 and result["extractor"].startswith("random-conv")

"""/metrics, request ids and structured logs, through real HTTP."""

import json
import os
import subprocess
import sys

import pytest

from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO_ROOT, free_port, wait_until

TINY_JOB = {"model": "queued-only", "dataset": {"kind": "synthetic"}, "image_size": 32, "batch_size": 8,
            "steps": 4, "base_width": 8}


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_per_route_template_not_raw_path(live):
    before = scrape(live)
    for seed in (101, 102, 103):
        assert live.get(f"/models/bars/seeds/{seed}.png").status_code == 200
    after = scrape(live)
    labels = dict(endpoint="/models/{name}/seeds/{seed}.png", method="GET", status="200")
    assert value(after, "gan_http_requests_total", **labels) - value(before, "gan_http_requests_total", **labels) == 3
    assert value(after, "gan_http_request_duration_seconds_count", endpoint=labels["endpoint"], method="GET") >= 3
    assert not any("101" in dict(k[1]).get("endpoint", "") for k in after)


def test_unknown_paths_share_one_label_so_scanners_cannot_blow_up_the_series(live):
    before = scrape(live)
    for path in ("/nope", "/wp-admin/x.php", "/static/missing.js"):
        assert live.get(path).status_code == 404
    after = scrape(live)
    labels = dict(endpoint="unmatched", method="GET", status="404")
    static = dict(endpoint="/static", method="GET", status="404")
    assert value(after, "gan_http_requests_total", **labels) - value(before, "gan_http_requests_total", **labels) == 2
    assert value(after, "gan_http_requests_total", **static) - value(before, "gan_http_requests_total", **static) == 1
    assert not any("wp-admin" in dict(k[1]).get("endpoint", "") for k in after)


def test_metrics_count_images_generated_and_batch_sizes(live):
    before = scrape(live)
    live.post("/generate", json={"model": "bars", "seeds": [1, 2, 3, 4, 5]})
    after = scrape(live)
    assert value(after, "gan_images_generated_total", model="bars") - value(before, "gan_images_generated_total",
                                                                            model="bars") == 5
    bucket = dict(model="bars", le="4.0")
    assert value(after, "gan_inference_batch_size_bucket", **bucket) == value(before, "gan_inference_batch_size_bucket",
                                                                             **bucket)
    bucket["le"] = "8.0"
    assert value(after, "gan_inference_batch_size_bucket", **bucket) - value(
        before, "gan_inference_batch_size_bucket", **bucket) == 1


def test_metrics_show_loaded_versions_and_swaps(live):
    live.post("/generate", json={"model": "bars-cond", "seeds": [1], "labels": [0], "version": "1"})
    samples = scrape(live)
    assert value(samples, "gan_model_versions_loaded", model="bars-cond", version="000001") == 1
    assert ("gan_model_swaps_total", ()) in samples


def test_metrics_show_queue_length_and_jobs_by_state(live):
    before = scrape(live)
    assert value(before, "gan_redis_up") == 1
    assert live.post("/train", json=TINY_JOB).status_code == 202  # no worker takes this queue here
    after = scrape(live)
    q = "training"  # the live app's queue
    assert value(after, "gan_queue_length", queue=q) - value(before, "gan_queue_length", queue=q) == 1
    assert value(after, "gan_training_jobs", queue=q, state="queued") - value(
        before, "gan_training_jobs", queue=q, state="queued") == 1
    assert {"started", "finished", "failed", "canceled"} <= {dict(k[1]).get("state") for k in after}


def test_a_request_id_given_is_echoed_and_one_is_made_when_missing(live):
    assert live.get("/healthz", headers={"X-Request-ID": "front-42"}).headers["x-request-id"] == "front-42"
    made = live.get("/healthz").headers["x-request-id"]
    assert len(made) == 32
    # a header that could forge log lines is replaced, not echoed
    assert live.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"] != "a b\tc"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_production_logs_are_one_json_object_per_line_with_request_id_model_and_version(tiny_registry, tmp_path,
                                                                                         level):
    """Answers get an access line at DEBUG, refusals at INFO; the load of a version is logged at INFO."""
    port, log_path = free_port(), tmp_path / "api.log"
    env = {**os.environ, "GAN_LOG_FORMAT": "json", "GAN_REGISTRY_DIR": str(tiny_registry),
           "GAN_SHIPPED_REGISTRY_DIR": str(tmp_path / "none"), "GAN_REDIS_URL": "redis://127.0.0.1:1/0",
           "GAN_TORCH_THREADS": "1", "GAN_LOG_LEVEL": level}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
                                  cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        import httpx
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until(lambda: _up(client), 60, what="uvicorn")
            r = client.get("/models/bars/seeds/7.png", headers={"X-Request-ID": "trace-7"})
            assert r.status_code == 200
            r = client.get("/models/bars/seeds/7.png", params={"label": "3"}, headers={"X-Request-ID": "trace-8"})
            assert r.status_code == 422
    finally:
        server.terminate()
        server.wait(20)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines, "no log lines"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    ours = [line for line in lines if line["request_id"] == "trace-7"]
    access = [line for line in ours if line["logger"] == "app.access"]
    if level == "DEBUG":
        assert access and access[0]["model"] == "bars" and access[0]["version"] == "000002"
        assert access[0]["endpoint"] == "/models/{name}/seeds/{seed}.png" and access[0]["status"] == 200
    else:
        assert access == []
    loads = [line for line in ours if line["message"].startswith("loaded")]
    assert loads and loads[0]["model"] == "bars" and loads[0]["version"] == "000002"
    [refused] = [line for line in lines if line["request_id"] == "trace-8" and line["logger"] == "app.access"]
    assert refused["status"] == 422 and refused["level"] == "INFO"


def _up(client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except Exception:
        return False


def test_the_worker_logs_json_lines_too(redis_server, tmp_path):
    from redis import Redis
    from rq import Worker

    from tests.support import worker_process

    queue, log_path = f"training-{tmp_path.name}", tmp_path / "worker.log"
    worker = worker_process({"GAN_LOG_FORMAT": "json", "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
                             "GAN_REGISTRY_DIR": str(tmp_path / "registry")}, log_path)
    try:
        connection = Redis.from_url(redis_server.url)
        wait_until(lambda: any(queue in w.queue_names() for w in Worker.all(connection=connection)), 60,
                   what="the worker to listen")
        wait_until(lambda: queue in log_path.read_text(), 10, what="the worker to log")
    finally:
        worker.terminate()
        worker.wait(20)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert any(queue in line["message"] and line["logger"].startswith("rq") for line in lines)


def test_metrics_still_answer_without_redis_and_say_so(tiny_registry):
    from tests.conftest import make_app
    from tests.support import LiveServer

    app = make_app(tiny_registry, f"redis://127.0.0.1:{free_port()}/0")
    with LiveServer(app) as server, server.client() as client:
        samples = scrape(client)
    assert value(samples, "gan_redis_up") == 0
    assert not any(name in ("gan_queue_length", "gan_training_jobs") for name, _ in samples)
    assert ("gan_model_swaps_total", ()) in samples

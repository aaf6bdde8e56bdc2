"""`gan serve`, `gan worker`, and the commands that talk to them, all as real processes over a real Redis."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
from click.testing import CliRunner

from cli.main import gan as gan_group
from tests.cli.support import gan, gan_process
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_registry, redis_server):
    """`gan serve` and `gan worker` sharing a copy of the tiny registry and a queue of their own."""
    root = tmp_path_factory.mktemp("cli-service")
    registry = root / "registry"
    shutil.copytree(tiny_registry, registry)
    port, queue = free_port(), f"training-{root.name}"
    env = {"GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
           "GAN_PROGRESS_EVERY_S": "0.2", "GAN_WATCH_INTERVAL_S": "0.2"}
    server = gan_process("serve", "--port", str(port), registry=registry, log_path=root / "serve.log", **env)
    worker = gan_process("worker", registry=registry, log_path=root / "worker.log", **env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert server.poll() is None, (root / "serve.log").read_text()[-3000:]
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, 90, interval=0.3, what="gan serve")
        yield url, registry, root
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(20)


def test_serve_answers_the_api_and_the_playground(service):
    url, _, _ = service
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    page = httpx.get(url + "/")
    assert page.status_code == 200 and "GAN playground" in page.text


def test_train_submits_and_follows_a_job_to_its_end_with_a_progress_bar(service):
    url, registry, root = service
    result = gan("train", "--api", url, "--model", "cli-gan", "--steps", "20", "--batch-size", "8",
                 "--base-width", "8", "--image-size", "32", "--checkpoint-every", "10", "--follow",
                 registry=registry, timeout=240)
    assert result.returncode == 0, result.stderr + (root / "worker.log").read_text()[-3000:]
    job_id = re.search(r"submitted job ([0-9a-f]{32})", result.stdout).group(1)
    assert f"job {job_id} finished: model cli-gan, versions 000001, 000002" in result.stdout
    assert re.search(r"20/20 \[.*loss_d=", result.stderr)
    assert f"job {job_id} finished" in result.stderr and "published cli-gan version 000002" in result.stderr
    # a job submitted earlier can be followed again; it has ended, so this returns at once
    again = gan("train", "--api", url, "--job", job_id, registry=registry)
    assert again.returncode == 0 and f"job {job_id} finished" in again.stdout


def test_generate_through_the_api_writes_the_same_pngs_as_generating_locally(service, tmp_path):
    url, registry, _ = service
    result = gan("generate", "--api", url, "--model", "bars-cond", "--seeds", "4,5", "--label", "bar-2",
                 "--out", str(tmp_path / "api"), registry=registry)
    assert result.returncode == 0, result.stderr
    local = CliRunner().invoke(gan_group, ["generate", "--local", "--registry", str(registry), "--model", "bars-cond",
                                           "--seeds", "4,5", "--label", "bar-2", "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    for seed in (4, 5):
        name = f"bars-cond-000002-seed{seed}.png"
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_commands_say_when_the_service_is_unreachable(tmp_path):
    result = CliRunner().invoke(gan_group, ["generate", "--api", f"http://127.0.0.1:{free_port()}", "--model", "m",
                                            "--seeds", "1"])
    assert result.exit_code == 1 and "cannot reach the service" in result.output


def test_the_service_refuses_a_bad_job_and_the_command_shows_why(service):
    url, registry, _ = service
    result = CliRunner().invoke(gan_group, ["train", "--api", url, "--model", "big", "--batch-size", "100000"])
    assert result.exit_code == 1 and "batch_size" in result.output and "less than or equal to 512" in result.output

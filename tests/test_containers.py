"""docker-compose.yml against the Compose Specification's JSON schema, and every command of the compose file
and the Dockerfile started here for real (no Docker engine runs on this machine)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from importlib import resources

import httpx
import jsonschema
import pytest
import yaml
from redis import Redis
from rq import Worker

from tests.support import REPO_ROOT, free_port, wait_until

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def compose_schema() -> dict:
    # the Compose Specification's schema as vendored by the check-jsonschema package on PyPI
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    return json.loads(text)


def test_the_compose_file_follows_the_compose_specification():
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    jsonschema.validators.validator_for(schema)(schema).validate(COMPOSE)


def test_the_schema_check_catches_a_broken_compose_file():
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["api"]["comand"] = broken["services"]["api"].pop("command")  # a typo
    with pytest.raises(jsonschema.ValidationError, match="comand"):
        jsonschema.validators.validator_for(compose_schema())(compose_schema()).validate(broken)


def test_workers_can_be_scaled_with_docker_compose_up_scale():
    worker = COMPOSE["services"]["worker"]
    # a fixed container name or a published host port would clash between replicas
    assert "container_name" not in worker and "ports" not in worker
    assert "docker compose up --scale worker=" in (REPO_ROOT / "README.md").read_text()


def test_the_api_and_worker_share_the_registry_volume_and_redis():
    api, worker = COMPOSE["services"]["api"], COMPOSE["services"]["worker"]
    for key in ("GAN_REDIS_URL", "GAN_REGISTRY_DIR"):
        assert api["environment"][key] == worker["environment"][key]
    assert api["environment"]["GAN_REDIS_URL"].startswith("redis://redis:")
    assert f"registry:{api['environment']['GAN_REGISTRY_DIR']}" in api["volumes"]
    assert f"registry:{worker['environment']['GAN_REGISTRY_DIR']}" in worker["volumes"]


def _here(command: list[str], port: int, directory) -> list[str]:
    """The container's command as this machine runs it: our interpreter, loopback, a free port, and a
    temporary directory for a data directory inside the container."""
    local = list(command)
    if local[0] == "uvicorn":
        local[:1] = [sys.executable, "-m", "uvicorn"]
    elif local[0] == "python":
        local[0] = sys.executable
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port)), ("--dir", str(directory))):
        if flag in local:
            local[local.index(flag) + 1] = value
        elif local[0] == "redis-server" and flag == "--port":
            local += [flag, value]
    return local


def _dockerfile_cmd() -> list[str]:
    return json.loads(re.search(r"^CMD (\[.*\])$", (REPO_ROOT / "Dockerfile").read_text(), re.M).group(1))


def _commands() -> list[tuple[str, list[str]]]:
    """Each distinct command once, named by every place that runs it."""
    places: dict[tuple[str, ...], list[str]] = {}
    for name, service in COMPOSE["services"].items():
        places.setdefault(tuple(service["command"]), []).append(f"compose:{name}")
    places.setdefault(tuple(_dockerfile_cmd()), []).append("Dockerfile CMD")
    return [("+".join(where), list(command)) for command, where in places.items()]


COMMANDS = _commands()


@pytest.mark.integration
@pytest.mark.parametrize("where, command", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_container_command_starts_here(where, command, tmp_path, redis_server):
    port, queue = free_port(), f"training-{tmp_path.name}"
    env = {**os.environ, "GAN_REDIS_URL": redis_server.url, "GAN_REGISTRY_DIR": str(tmp_path / "registry"),
           "GAN_SHIPPED_REGISTRY_DIR": str(tmp_path / "none"), "GAN_QUEUES": queue, "GAN_TORCH_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    log_path = tmp_path / "out.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(_here(command, port, tmp_path), cwd=tmp_path, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        def alive_and(check) -> bool:
            assert process.poll() is None, f"{where} exited: {log_path.read_text()[-2000:]}"
            try:
                return check()
            except (httpx.TransportError, ConnectionError, OSError):
                return False

        if command[0] == "redis-server":
            wait_until(lambda: alive_and(lambda: Redis(port=port, socket_timeout=1).ping()), 20, what=where)
        elif "app.main:app" in command:
            wait_until(lambda: alive_and(
                lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200), 90, what=where)
        else:  # the worker registers itself in Redis once it listens on its queues
            connection = Redis.from_url(redis_server.url)
            wait_until(lambda: alive_and(lambda: any(queue in w.queue_names()
                                                     for w in Worker.all(connection=connection))), 90, what=where)
    finally:
        process.terminate()
        process.wait(20)

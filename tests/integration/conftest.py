"""The real stack most integration tests drive: a worker process and the live API on one real Redis."""

import pytest

from tests.conftest import make_app
from tests.support import LiveServer, worker_process


@pytest.fixture
def stack(tmp_path, redis_server):
    """A real worker process and the live API, sharing a fresh registry and a real Redis; yields the HTTP
    client and the worker's log file."""
    registry = tmp_path / "registry"
    queue = f"training-{tmp_path.name}"
    env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
           "GAN_PROGRESS_EVERY_S": "0.2", "GAN_TORCH_THREADS": "1"}
    worker = worker_process(env, tmp_path / "worker.log")
    try:
        with LiveServer(make_app(registry, redis_server.url, queues=queue)) as server:
            with server.client() as client:
                yield client, tmp_path / "worker.log"
    finally:
        worker.terminate()
        worker.wait(20)

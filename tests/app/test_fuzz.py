"""Schema-driven fuzzing of the whole API over real HTTP (bench/fuzz.py runs many more cases)."""

import shutil

import pytest

from bench.fuzz import fuzz
from tests.conftest import make_app
from tests.support import LiveServer


@pytest.fixture
def live_copy(tiny_registry, redis_server, tmp_path):
    """A registry of its own: the fuzzer calls the management API, which deletes versions and moves aliases."""
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    with LiveServer(make_app(registry, redis_server.url)) as server, server.client() as client:
        yield client


def test_no_generated_request_gets_a_500_and_every_4xx_names_the_problem(live_copy):
    report = fuzz(str(live_copy.base_url).rstrip("/"), examples=5, redis_up=True)
    assert report["cases"] >= 80
    assert report["failures"] == [], report["failures"][:5]
    assert {"POST /generate", "POST /train", "DELETE /train/{job_id}", "DELETE /models/{name}/versions/{version}",
            "PUT /models/{name}/aliases/{alias}"} <= set(report["operations"])

"""Headless Chromium (Debian's chromium and chromium-driver) driving the playground of a real stack:
the live API, a real redis-server and a real worker process, over a copy of the tiny registry."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import make_app
from tests.support import REPO_ROOT, LiveServer, worker_process

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,2400"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_registry, redis_server):
    """The playground's URL, with a worker taking this module's own queue and writing into the registry."""
    root = tmp_path_factory.mktemp("browser-stack")
    registry = root / "registry"
    shutil.copytree(tiny_registry, registry)
    queue = f"training-{root.name}"
    env = {"GAN_REGISTRY_DIR": str(registry), "GAN_REDIS_URL": redis_server.url, "GAN_QUEUES": queue,
           "GAN_PROGRESS_EVERY_S": "0.2", "GAN_TORCH_THREADS": "1"}
    worker = worker_process(env, root / "worker.log")
    try:
        with LiveServer(make_app(registry, redis_server.url, queues=queue)) as server:
            yield server.url
    finally:
        worker.terminate()
        worker.wait(20)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromium-driver are missing: scripts/setup.sh installs them with apt-get")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_script_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

"""scripts/up.sh, the README's first command: the stack it starts serves, and a TERM to the script (what a
process manager or `timeout` sends) stops every process of it, not the script alone."""

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import REPO_ROOT, descendant_pids, free_port, process_running, wait_until

pytestmark = pytest.mark.integration


def test_a_term_to_the_up_script_stops_the_worker_the_api_and_its_inference_process(tmp_path, redis_server):
    port = free_port()
    env = {**os.environ, "PORT": str(port), "GAN_REDIS_URL": redis_server.url,
           "GAN_REGISTRY_DIR": str(tmp_path / "registry"), "GAN_QUEUES": f"training-{tmp_path.name}"}
    script = subprocess.Popen(["scripts/up.sh"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    stack: set[int] = set()
    try:
        def serving() -> bool:
            assert script.poll() is None, "scripts/up.sh ended on its own"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/models", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(serving, 120, interval=0.5, what="the stack of scripts/up.sh")
        stack = descendant_pids(script.pid)
        commands = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in stack}
        assert any("-m worker" in c for c in commands) and any("uvicorn app.main:app" in c for c in commands)
        assert any("app.serving.process" in c for c in commands), commands

        script.send_signal(signal.SIGTERM)
        script.wait(30)
        wait_until(lambda: not any(process_running(pid) for pid in stack), 30, interval=0.2,
                   what="every process of the stack to end")
    finally:  # a failed test leaves nothing running
        for pid in stack | descendant_pids(script.pid):
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)
        script.kill()
        script.wait(10)

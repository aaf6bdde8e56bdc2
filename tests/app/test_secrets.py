"""No secret on a command line: the real API and its inference process, read from /proc as any local user can."""

from pathlib import Path

import httpx

from tests.support import ApiProcess, child_pids, wait_until

KEY = "secret-key-that-must-not-leak-0123456789"
ADMIN_KEY = "admin-key-that-must-not-leak-9876543210"


def command_lines() -> dict[int, bytes]:
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
    return lines


def test_no_process_shows_an_api_key_on_its_command_line_or_in_its_childrens_environment(tiny_registry, tmp_path):
    env = {"GAN_REGISTRY_DIR": str(tiny_registry), "GAN_SHIPPED_REGISTRY_DIR": str(tiny_registry / ".none"),
           "GAN_API_KEYS": KEY, "GAN_ADMIN_KEYS": ADMIN_KEY, "GAN_REDIS_URL": "redis://127.0.0.1:1/0"}
    with ApiProcess(env, tmp_path / "api.log") as api:
        # a generation goes through the inference process, so it is up and configured
        assert httpx.post(f"{api.url}/generate", json={"model": "bars", "seeds": [1]}, timeout=60).status_code == 200
        inference = wait_until(lambda: child_pids(api.process.pid), 30, what="the inference process")
        secrets = (KEY.encode(), ADMIN_KEY.encode())
        leaks = {pid: line for pid, line in command_lines().items() if any(s in line for s in secrets)}
        assert not leaks, leaks
        for pid in inference:
            environment = Path(f"/proc/{pid}/environ").read_bytes()
            assert not any(s in environment for s in secrets)
    log = (tmp_path / "api.log").read_text()
    assert KEY not in log and ADMIN_KEY not in log

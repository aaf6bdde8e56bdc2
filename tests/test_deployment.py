"""The README, CI, Dockerfile and compose file name the same, real entry points."""

import importlib
import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _check_command(command: list[str]) -> None:
    if command[0] == "uvicorn":
        module, attribute = command[1].split(":")
        assert hasattr(importlib.import_module(module), attribute), command
    elif command[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, command
    elif command[0] == "redis-server":
        pass
    else:
        raise AssertionError(f"unknown entry point {command}")


def test_compose_file_parses_and_runs_real_entry_points():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"redis", "api", "worker"} <= set(compose["services"])
    for name, service in compose["services"].items():
        _check_command(service["command"])
    for name in ("api", "worker"):
        assert "registry:/data/registry" in compose["services"][name]["volumes"]
    assert "registry" in compose["volumes"]


def test_compose_keeps_the_queue_on_disk_and_restarts_every_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    data_dir = command[command.index("--dir") + 1]
    assert any(v.endswith(f":{data_dir}") and v.split(":")[0] in compose["volumes"] for v in redis["volumes"])
    assert {s.get("restart") for s in compose["services"].values()} == {"unless-stopped"}


def test_up_script_starts_redis_with_an_append_only_file_under_var():
    script = (ROOT / "scripts" / "up.sh").read_text()
    assert "--appendonly yes --appendfsync everysec" in script and '--dir "$PWD/var/redis"' in script
    assert "/var/" in (ROOT / ".gitignore").read_text().split()


def test_dockerfile_serves_the_app_entry_point_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    _check_command(yaml.safe_load(cmd))
    assert re.search(r"^USER (?!root)", dockerfile, re.M)
    assert "torch==2.13.0" in dockerfile


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^```(?:bash|sh)\n(.+?)\n```", readme, re.M | re.S)
    assert commands[:2] == ["scripts/up.sh", "scripts/test.sh"]
    assert "exec scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_torch_is_pinned_to_the_cpu_build_everywhere():
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()
    assert "torch==2.13.0" in (ROOT / "scripts" / "setup.sh").read_text()

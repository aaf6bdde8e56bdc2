"""Real processes for tests: a redis-server on a free port, a live uvicorn server, tiny trained models."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import torch
import uvicorn
from redis import Redis
from redis.exceptions import RedisError

from models.registry import Registry
from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started that still run (none once it has ended)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return []
    found = []
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return found


def descendant_pids(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        children = set(child_pids(todo.pop()))
        found |= children
        todo += children
    return found


def process_running(pid: int) -> bool:
    """Alive and not a zombie: an orphan's zombie lingers where nothing reaps it, and is dead for a test."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class RedisServer:
    """A throwaway redis-server on loopback that a test may stop, kill, pause and start again on the same port.

    `durable`: an append-only file in `directory`, fsynced every second, as docker-compose.yml and
    scripts/up.sh run it; a restart on the same directory reloads it."""

    def __init__(self, directory: Path, durable: bool = False):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/test.sh, which installs it")
        self.binary, self.directory, self.port, self.durable = binary, directory, free_port(), durable
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.durable else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            # PING, not a connect: with an append-only file to load, Redis accepts connections before it serves
            try:
                return bool(Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=1).ping())
            except (RedisError, OSError):
                return False

        wait_until(up, 10, what="redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:  # a starved machine: never leave a server behind
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, so nothing is flushed or rewritten on the way out."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        """A network blip as clients see it: connections stay open and nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class LiveServer:
    """The real app under uvicorn in a thread of the test process, answering real HTTP on loopback."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        wait_until(lambda: self.server.started, 30, what="uvicorn to start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


def train_tiny(registry_root: Path, model: str, architecture: str = "cdcgan", steps: int = 4,
               image_size: int | tuple[int, int] = 32, channels: int = 1, checkpoint_every: int | None = None,
               device: torch.device = torch.device("cpu"), **spec_fields) -> list[str]:
    """Train a few real steps on synthetic data in-process and publish the versions into the registry."""
    spec = TrainSpec.model_validate({
        "model": model, "dataset": {"kind": "synthetic", "limit": 64}, "architecture": architecture,
        "image_size": image_size, "channels": channels, "batch_size": 8, "steps": steps, "base_width": 8,
        "checkpoint_every": checkpoint_every or steps, **spec_fields})
    registry = Registry(registry_root)
    data = synthetic(spec.height, spec.width, channels, count=64)

    def publish(c) -> str:
        return registry.publish(model, lambda d: c.write(d, {**c.metadata, "model": model}))

    return Trainer(spec, data, Callbacks(publish=publish), device).run().versions


def worker_process(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """A real `python -m worker` process."""
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO_ROOT, env={**os.environ, **env},
                            stdout=log, stderr=subprocess.STDOUT)


class ApiProcess:
    """A real `uvicorn app.main:app` process on a loopback port, configured by environment like production."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "ApiProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"], cwd=REPO_ROOT, env={**os.environ, **self.env}, stdout=log,
            stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 60) -> "ApiProcess":
        def up() -> bool:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout, interval=0.2, what="the API process")
        return self

    def __enter__(self) -> "ApiProcess":
        return self.start().wait_ready()

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


def wait_for_job(client: httpx.Client, job_id: str, worker_log: Path, timeout: float = 240) -> dict:
    """The job's status once it finished; fails at once, with the worker's log, if the job failed."""
    def finished() -> dict | None:
        status = client.get(f"/train/{job_id}").json()
        assert status["status"] != "failed", (status, worker_log.read_text()[-3000:])
        return status if status["status"] == "finished" else None

    return wait_until(finished, timeout=timeout, interval=0.5, what=f"job {job_id}")

"""Serving beside training: single-image latency while a training job runs, and the job's slowdown.

    python -m bench.colocated --seconds 8 --rate 10

The default stack runs the API and a worker on the same cores. For each thread configuration this runs the
real server (uvicorn, its own process) serving a 64x64x3 DCGAN, and a training process running the project's
trainer (a 28x28 conditional DCGAN at batch 64, like the shipped default), and measures:
  - p50/p99 of single-image requests on the idle server (one client, --rate requests/s);
  - seconds per training iteration alone;
  - both at once: p50/p99 while training, and seconds per iteration while serving.
Configurations: `unconfigured` (torch's default threads, all cores, in both; OpenMP's default wait policy,
except in the API's inference process, which waits passively unless the environment says otherwise),
`configured` (what scripts/up.sh runs: the API's default of all cores but one and OMP_WAIT_POLICY=PASSIVE,
the training at OpenMP's default wait policy), `training_passive` (the training at OMP_WAIT_POLICY=PASSIVE
too, as scripts/up.sh ran it until run L) and `training_spins_briefly` (the training's threads spinning
10,000 rounds of libgomp's before they sleep, GOMP_SPINCOUNT, instead of 300,000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.serve import REPO_ROOT, Server, image_path, write_random_model


def paced(server: Server, path: str, seconds: float, rate: float) -> dict:
    """Latency of one client sending `rate` requests a second (bench/loadgen.py: a Python client is fine at a
    trickle, where it sleeps between requests)."""
    out = subprocess.run([sys.executable, "-m", "bench.loadgen", "--port", str(server.port), "--path", path,
                          "--clients", "1", "--seconds", str(seconds), "--warmup", "1", "--rate", str(rate)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(out.stdout)

CONFIGURED_API = {"GAN_TORCH_THREADS": "0", "OMP_WAIT_POLICY": "PASSIVE"}
CONFIGURATIONS = {
    "unconfigured": {"api": {"GAN_TORCH_THREADS": str(os.cpu_count())}, "train": {}},
    # what scripts/up.sh runs: the API configured, the worker at OpenMP's default wait policy
    "configured": {"api": CONFIGURED_API, "train": {}},
    # what scripts/up.sh ran until run L: the worker's idle threads sleeping at once too
    "training_passive": {"api": CONFIGURED_API, "train": {"OMP_WAIT_POLICY": "PASSIVE"}},
    # libgomp's spin before sleeping cut from 300,000 rounds to 10,000
    "training_spins_briefly": {"api": CONFIGURED_API, "train": {"GOMP_SPINCOUNT": "10000"}},
}


def train_child() -> None:
    """Train until killed, printing `ready` after the first step, then the monotonic time after each step."""
    import torch

    from models.spec import TrainSpec
    from worker.datasets import synthetic
    from worker.trainer import Callbacks, Trainer

    spec = TrainSpec.model_validate({"model": "bench", "dataset": {"kind": "synthetic"}, "architecture": "cdcgan",
                                     "image_size": 28, "channels": 1, "batch_size": 64, "steps": 10**6})
    trainer = Trainer(spec, synthetic(28, 28, 1, count=2048), Callbacks(publish=lambda c: "none"),
                      torch.device("cpu"))
    trainer.G.train()
    trainer.D.train()
    trainer._train_step()
    print("ready", flush=True)
    while True:
        trainer._train_step()
        print(time.monotonic(), flush=True)


class Training:
    """A training process whose step times are collected while it runs."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen([sys.executable, "-m", "bench.colocated", "--train-child"],
                                        cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
        self.stamps: list[float] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(120):
            self.stop()
            raise RuntimeError("the training process did not start")

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.strip() == "ready":
                self.ready.set()
            else:
                self.stamps.append(float(line))

    def seconds_per_iteration(self, start: float, end: float) -> float:
        inside = [t for t in self.stamps if start <= t <= end]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1] - inside[0]) / (len(inside) - 1)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def measure(name: str, registry: Path, model: str, args) -> dict:
    env = CONFIGURATIONS[name]
    server = Server(registry, env["api"])
    path = image_path(model, False)
    try:
        assert server.get(path.format(n=0)).status_code == 200
        idle = paced(server, path, args.seconds, args.rate)
        # training alone, then training with the same trickle of requests
        training = Training(env["train"])
        try:
            start = time.monotonic()
            time.sleep(args.seconds)
            alone = training.seconds_per_iteration(start, time.monotonic())
            start = time.monotonic()
            busy = paced(server, path, args.seconds, args.rate)
            together = training.seconds_per_iteration(start, time.monotonic())
        finally:
            training.stop()
    finally:
        server.stop()
    return {"configuration": name, "idle_p50_ms": idle["p50_ms"], "idle_p99_ms": idle["p99_ms"],
            "training_p50_ms": busy["p50_ms"], "training_p99_ms": busy["p99_ms"],
            "latency_ratio": busy["p50_ms"] / idle["p50_ms"], "train_s_per_it_alone": alone,
            "train_s_per_it_serving": together, "training_slowdown": together / alone - 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=10.0, help="single-image requests per second")
    parser.add_argument("--configuration", action="append", choices=list(CONFIGURATIONS))
    parser.add_argument("--train-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        train_child()
        return 0
    from models.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp))
        write_random_model(registry, "colocated", "64x64x3")
        for name in args.configuration or list(CONFIGURATIONS):
            print(json.dumps(measure(name, registry.root, "colocated", args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

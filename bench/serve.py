"""Serving benchmark: the model's forward, the HTTP ceiling, and the service under load, measured with wrk.

    python -m bench.serve --model shipped --model 64x64x3 --seconds 4 --rounds 3 [--baseline DIR] [--memory]

For each model it writes a checkpoint (random weights unless `shipped`: speed does not depend on them) into a
temporary registry (`shipped` is the default this checkout ships, or with --baseline the one the baseline
shipped, which both can load), then measures:
  1. forward: the generator prepared as the service prepares it, in this process, at batch 1 to 128: images/s;
  2. each round, side by side on fresh servers: the HTTP ceiling, a bare FastAPI app (bench/bare.py) on the same
     uvicorn answering POST /generate (the same body, validated by the same schema) with constant bytes, and
     GET /healthz; the service (`uvicorn app.main:app`, its own process): /healthz, seed URLs (a fresh seed
     each request, so no cache answers) at 1, 8 and 32 connections, and POST /generate of one seed (and label)
     at 32; with --baseline DIR the same for the service of another checkout (a git worktree of an earlier
     commit), so that a change is measured against what it changed;
  3. the medians over --rounds, each figure against the baseline's, and POST /generate at 32 connections against
     the lower of the forward's rate at its best batch and the bare POST ceiling, both timed again each round
     (the median of the rounds' ratios).
With --memory: the resident memory of the API process and of its inference process serving one version, then
across 10 versions requested in turn (an LRU of 3), and how long each request that loads a version takes (and
the same for --baseline's service). wrk (`apt-get install wrk`) runs in its own process; everything stays on
loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

from app.serving.prepare import prepare
from bench import wrk
from models import checkpoint
from models.architectures import get_architecture
from models.dcgan import DCGANConfig, init_weights
from models.latents import seed_latents
from models.registry import Registry

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {  # name -> (architecture, DCGANConfig)
    "64x64x3": ("dcgan", DCGANConfig(height=64, width=64, channels=3, base_width=64)),
    "28x28x1c": ("cdcgan", DCGANConfig(height=28, width=28, channels=1, base_width=64, num_classes=10)),
    "32x32x1": ("dcgan", DCGANConfig(height=32, width=32, channels=1, base_width=64)),
}
CLASSES = [f"class-{i}" for i in range(10)]
SHIPPED_DEFAULT = Path("models") / "shipped" / "fashion-cdcgan"  # in a checkout: the default the service ships


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_random_model(registry: Registry, name: str, config_name: str, versions: int = 1) -> None:
    """Versions of a generator with random weights and batch-norm statistics of real activations."""
    architecture, cfg = CONFIGS[config_name]
    arch = get_architecture(architecture)
    config = cfg.__dict__ | {}
    for v in range(versions):
        torch.manual_seed(v)
        generator = arch.build_generator(config)
        generator.apply(init_weights)
        with torch.no_grad():  # train-mode passes give the running statistics realistic values
            generator(torch.randn(64, cfg.latent_dim), torch.randint(0, 10, (64,)) if cfg.num_classes else None)
        metadata = {"architecture": architecture, "generator_config": config, "latent_dim": cfg.latent_dim,
                    "image": {"height": cfg.height, "width": cfg.width, "channels": cfg.channels},
                    "classes": CLASSES if cfg.num_classes else None, "step": 0, "model": name}
        registry.publish(name, lambda d: checkpoint.write_checkpoint(d, metadata, generator.state_dict()))


def write_model(registry: Registry, name: str, config_name: str, baseline: Path | None, versions: int = 1) -> None:
    """`write_random_model`, by the baseline's code when there is one: this checkout loads its checkpoints, not
    the reverse."""
    if baseline is None:
        write_random_model(registry, name, config_name, versions)
        return
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from bench.serve import "
                    "write_random_model; from models.registry import Registry; "
                    "write_random_model(Registry(Path(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4]))",
                    str(registry.root), name, config_name, str(versions)], cwd=baseline, check=True)


def timed(fn, min_s: float = 0.25, repeats: int = 5) -> float:
    """Median seconds per call over `repeats` windows of at least min_s / repeats each."""
    fn()
    times = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_s / repeats or calls == 0:
            fn()
            calls += 1
        times.append(elapsed / calls)
    return statistics.median(times)


class Forward:
    """The generator prepared as the inference process prepares it, with the threads it uses, timed in this
    process: the ceiling a server's POST /generate is held against."""

    def __init__(self, directory: Path, threads: int):
        torch.set_num_threads(threads or max(1, len(os.sched_getaffinity(0)) - 1))
        generator, metadata = checkpoint.load_generator(directory)
        self.latent_dim, self.classes = metadata["latent_dim"], metadata.get("classes")
        self.prepared = prepare(generator, torch.device("cpu"), self.latent_dim, self.classes)

    def rate(self, batch: int) -> float:
        """Images/s at one batch size."""
        z = seed_latents(list(range(batch)), self.latent_dim)
        y = torch.arange(batch) % 10 if self.classes else None
        return batch / timed(lambda: self.prepared.images(z, y))

    def curve(self) -> dict:
        per_batch = {batch: self.rate(batch) for batch in (1, 4, 8, 16, 32, 64, 128)}
        best = max(per_batch, key=per_batch.get)
        return {"precision": self.prepared.precision, "graph": self.prepared.graph, "images_per_s": per_batch,
                "best_batch": best, "best_images_per_s": per_batch[best]}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """`uvicorn APP` in its own process, run from `root` (this checkout or the baseline's), serving `registry`."""

    def __init__(self, registry: Path, env: dict[str, str], root: Path = REPO_ROOT, app: str = "app.main:app"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "GAN_REGISTRY_DIR": str(registry),
                       "GAN_SHIPPED_REGISTRY_DIR": str(registry / ".none"),
                       "GAN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", **env}
        with open(registry / f".server-{self.port}.log", "wb") as log:  # as a log collector would take it
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning", "--no-access-log"], cwd=root, env=environment, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=60)

    def load(self, path: str, connections: int, seconds: float, body: str | None = None) -> dict:
        return wrk.run(self.url, path, connections, seconds, body)

    def memory_mib(self) -> dict[str, float]:
        """Resident memory of the API process and of its inference process (its children)."""
        api = rss_mib(self.process.pid)
        inference = sum(rss_mib(child) for child in children(self.process.pid))
        return {"api": api, "inference": inference, "total": api + inference}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def image_path(model: str, conditional: bool) -> str:
    return f"/models/{model}/seeds/{{n}}.png?version=1" + ("&label=3" if conditional else "")


def generate_body(model: str, conditional: bool) -> str:
    return f'{{"model": "{model}", "seeds": [{{n}}]' + (', "labels": [3]' if conditional else "") + "}"


def service_round(server: Server, model: str, conditional: bool, seconds: float) -> dict[str, float]:
    """Answers/s of one fresh server: /healthz, seed URLs at 1, 8 and 32 connections, POST /generate at 32."""
    path, body = image_path(model, conditional), generate_body(model, conditional)
    assert server.get(path.format(n=0)).status_code == 200  # loads and prepares the version
    result = {"healthz_32": server.load("/healthz", 32, seconds)["per_s"]}
    for connections in (1, 8, 32):
        result[f"seed_{connections}"] = server.load(path, connections, seconds)["per_s"]
    result["generate_32"] = server.load("/generate", 32, seconds, body)["per_s"]
    return result


def bench_model(config_name: str, root: Path, args) -> dict:
    registry = Registry(root / config_name)
    model = "bench-" + config_name.lower()
    if config_name == "shipped":
        # with a baseline, the default it shipped: the one model both checkouts can load
        shutil.copytree((args.baseline or REPO_ROOT) / SHIPPED_DEFAULT, registry.root / model)
    else:
        write_model(registry, model, config_name, args.baseline)
    conditional = bool(checkpoint.read_metadata(registry.path(model, "000001")).get("classes"))
    generator = Forward(registry.path(model, "000001"), args.threads)
    forward = generator.curve()
    print(json.dumps({"model": config_name, "forward": forward}), flush=True)
    env = {"GAN_TORCH_THREADS": str(args.threads)}
    services = {"service": REPO_ROOT, **({"baseline": args.baseline} if args.baseline else {})}
    rounds: dict[str, list[dict]] = {name: [] for name in ("ceilings", *services)}
    for _ in range(args.rounds):  # interleaved, so that the machine's drifts weigh on all alike
        bare = Server(registry.root, env, app="bench.bare:app")
        try:
            ceilings = {"post_32": bare.load("/generate", 32, args.seconds, generate_body(model, conditional))["per_s"],
                        "get_32": bare.load("/healthz", 32, args.seconds)["per_s"]}
        finally:
            bare.stop()
        # the forward again each round: this machine's speed drifts by up to 2x within minutes, and a ceiling
        # timed once, before the rounds, judged the service against another minute's machine
        rounds["ceilings"].append({**ceilings, "forward": generator.rate(forward["best_batch"])})
        for name, checkout in services.items():
            server = Server(registry.root, env, checkout)
            try:
                rounds[name].append(service_round(server, model, conditional, args.seconds))
            finally:
                server.stop()
        print(json.dumps({"model": config_name, "round": {k: v[-1] for k, v in rounds.items()}}), flush=True)
    medians = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in rounds.items()}
    over_ceiling = [service["generate_32"] / min(ceiling["forward"], ceiling["post_32"])
                    for service, ceiling in zip(rounds["service"], rounds["ceilings"])]
    summary = {"model": config_name, "forward_best_batch": forward["best_batch"], **medians,
               "generate_32_over_ceiling": statistics.median(over_ceiling),
               "generate_32_over_ceiling_rounds": over_ceiling}
    if args.baseline:
        summary["over_baseline"] = {k: medians["service"][k] / medians["baseline"][k] for k in medians["baseline"]}
    return {"summary": summary, "forward": forward, "rounds": rounds}


def bench_memory(root: Path, args, server_root: Path = REPO_ROOT) -> dict:
    """Resident memory across 10 versions loaded in turn (LRU of 3), and how long a request that loads its
    version takes: with 10 versions cycling through an LRU of 3, every request after the first loads one."""
    registry = Registry(root / "memory")
    if not registry.root.exists():  # the same versions for this checkout and the baseline's
        write_model(registry, "mem", "64x64x3", args.baseline, versions=10)
    server = Server(registry.root, {"GAN_TORCH_THREADS": str(args.threads), "GAN_CACHE_SIZE": "3"}, server_root)
    try:
        started = server.memory_mib()
        assert server.get("/models/mem/seeds/1.png?version=1").status_code == 200
        one = server.memory_mib()
        after, loading_ms = [], []
        for _ in range(args.memory_passes):
            for v in range(1, 11):
                begin = time.perf_counter()
                assert server.get(f"/models/mem/seeds/1.png?version={v}").status_code == 200
                loading_ms.append(1000 * (time.perf_counter() - begin))
                after.append(server.memory_mib())
    finally:
        server.stop()
    loading_ms = loading_ms[1:]  # version 1 was still loaded from the first request
    return {"rss_mib_started": started, "rss_mib_one_model": one, "rss_mib_after_last_load": after[-1],
            "rss_mib_max_total": max(m["total"] for m in after), "median_loading_request_ms": statistics.median(loading_ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=[*CONFIGS, "shipped"],
                        help="repeat for several; default shipped and 64x64x3")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers per variant, interleaved")
    parser.add_argument("--threads", type=int, default=0, help="GAN_TORCH_THREADS of the server (0: its default)")
    parser.add_argument("--baseline", type=Path, help="another checkout (e.g. a git worktree of an earlier commit) "
                        "whose service is measured side by side with this one's")
    parser.add_argument("--memory", action="store_true", help="also measure resident memory across swaps")
    parser.add_argument("--memory-passes", type=int, default=3, help="times the 10 versions are requested in turn")
    parser.add_argument("--memory-only", action="store_true", help="skip the speed phases")
    parser.add_argument("--out", type=Path, help="write the full results as JSON here")
    args = parser.parse_args(argv)
    results: dict = {"models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [] if args.memory_only else args.model or ["shipped", "64x64x3"]:
            results["models"].append(bench_model(name, Path(tmp), args))
            print(json.dumps(results["models"][-1]["summary"]), flush=True)
        if args.memory:
            results["memory"] = bench_memory(Path(tmp), args)
            print(json.dumps({"memory": results["memory"]}), flush=True)
            if args.baseline:
                results["memory_baseline"] = bench_memory(Path(tmp), args, args.baseline)
                print(json.dumps({"memory_baseline": results["memory_baseline"]}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

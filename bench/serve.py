"""Serving benchmark: raw forward, HTTP ceiling, and the real server under 1/8/32 clients, batching on and off.

    python -m bench.serve --model shipped --model 64x64x3 --seconds 4 --memory

For each model it writes a checkpoint (random weights unless `shipped`: speed does not depend on them) into a
temporary registry, then in one run:
  1. the raw generator forward, prepared as the server prepares it, at batch 1..128: best images/s;
  2. the HTTP ceiling: /healthz answers/s with 32 clients;
  3. the server (uvicorn, `app.main:app`, its own process) with 1, 8 and 32 clients each asking one image at a
     time from a fresh seed URL (no cache hits): images/s and p50/p95/p99;
  4. the same with micro-batching off (GAN_BATCHING=false);
  then, side by side, 32 clients against a fresh server per variant, interleaved over --rounds rounds (medians):
  as served (and that server's /healthz right after, so that each round has its own ceiling), micro-batching
  off, through the FastAPI route instead of the seed lane (app/routes/seed_lane.py),
  the generator run eagerly instead of as a traced graph (app/graphs.py), CPython's default switch interval,
  batches of up to 32 images instead of 16, the forwards on an inference thread of the API process instead of
  in its inference process (app/process_engine.py), and with --baseline DIR the server of another checkout (a git
  worktree of an earlier commit: a change measured against what it changed), then as served and the baseline
  again at 8 clients and at 1; and, in-process, a batch-16 forward alone and beside
  a busy Python thread, graph and eager, and one image's forward and encoding after an idle pause, as a lone
  request on an idle server meets it;
and with --memory, the resident memory of the API process and of its inference process serving one version,
then after loading 10 versions in turn, --memory-passes times over, with the LRU bounded at 3, and how long
each request that loads its version takes (with --baseline, the same for the baseline's server after). The load
generator (bench/loadgen.py) runs in its own
process; its CPU share is reported. Everything stays on loopback; every phase is bounded by --seconds.
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
import threading
import time
from pathlib import Path

import httpx
import torch

from app.inference import prepare, serving_threads
from app.settings import Settings
from models import checkpoint, images as imaging
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
SHIPPED = Registry(REPO_ROOT / "models" / "shipped")  # the shipped default's registry, read only here


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


def beside_busy_python(forward, z, y, switch_interval_ms: float, calls: int = 30) -> float:
    """Median ms of a forward while another thread runs Python without pause, as a busy event loop does: a
    forward that needs Python's lock back after each operator waits for the other thread's switch interval."""
    stop = threading.Event()
    default_interval = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval_ms / 1000)

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            forward(z, y)
            times.append(time.perf_counter() - start)
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(default_interval)
    return 1000 * statistics.median(times)


def raw_forward(directory: Path, threads: int, precision: str) -> dict:
    torch.set_num_threads(serving_threads(threads))
    generator, metadata = checkpoint.load_generator(directory)
    classes = metadata.get("classes")
    prepared = prepare(generator, torch.device("cpu"), metadata["latent_dim"], classes, precision)
    eager = prepare(generator, torch.device("cpu"), metadata["latent_dim"], classes, precision, use_graph=False)
    z16 = seed_latents(list(range(16)), metadata["latent_dim"])
    y16 = torch.arange(16) % 10 if classes else None
    # one batch of 16 (what 32 clients gather) alone and beside a busy Python thread, graph and eager
    served_interval = Settings().switch_interval_ms
    contention = {name: {"alone_ms": 1000 * timed(lambda: p.forward(z16, y16)),
                         "beside_busy_python_ms": {ms: beside_busy_python(p.forward, z16, y16, ms)
                                                   for ms in (5.0, served_interval)}}
                  for name, p in (("served", prepared), ("eager", eager))}
    per_batch = {}
    for batch in (1, 4, 8, 16, 32, 64, 128):
        z = seed_latents(list(range(batch)), metadata["latent_dim"])
        y = torch.arange(batch) % 10 if classes else None
        per_batch[batch] = batch / timed(lambda: prepared.forward(z, y))
    z1, y1 = seed_latents([1], metadata["latent_dim"]), torch.tensor([1]) if classes else None
    one = prepared.forward(z1, y1)[0]
    best = max(per_batch, key=per_batch.get)
    return {"precision": prepared.precision, "rowwise_linear": prepared.rowwise_linear,
            "batchable": prepared.batchable, "max_pixel_diff": prepared.max_pixel_diff, "graph": prepared.graph,
            "batch16_contention": contention,
            "images_per_s": per_batch, "best_batch": best, "best_images_per_s": per_batch[best],
            "batch1_ms": 1000 / per_batch[1], "encode_ms": 1000 * timed(lambda: imaging.encode_png(one)),
            "batch1_encode_after_idle_ms": after_idle_ms(prepared.forward, imaging.encode_png, z1, y1)}


def after_idle_ms(forward, encode, z, y, gap_s: float = 0.001, calls: int = 200) -> float:
    """Median ms of one image's forward and encoding after the thread slept `gap_s` (about the rest of a lone
    client's request cycle), as the inference thread of an idle server meets it: back to back, the same work
    finds warm caches and a busy core (the floor's `batch1_ms + encode_ms`): 0.38 against 0.55 ms on the
    shipped model (docs/benchmarks.md, run G)."""
    times = []
    for _ in range(calls):
        time.sleep(gap_s)
        start = time.perf_counter()
        encode(forward(z, y)[0])
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its living children (the API's inference process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children(pid))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """`uvicorn app.main:app` in its own process, serving `registry` with these extra settings."""

    def __init__(self, registry: Path, env: dict[str, str], root: Path = REPO_ROOT):
        self.port = free_port()
        environment = {**os.environ, "GAN_REGISTRY_DIR": str(registry),
                       "GAN_SHIPPED_REGISTRY_DIR": str(registry / ".none"),
                       "GAN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "GAN_VERSION_NOTIFICATIONS": "false",
                       **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", "--no-access-log"], cwd=root, env=environment)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=60)

    def load(self, path: str, clients: int, seconds: float, rate: float = 0.0) -> dict:
        before = cpu_seconds(self.process.pid)
        out = subprocess.run([sys.executable, "-m", "bench.loadgen", "--port", str(self.port), "--path", path,
                              "--clients", str(clients), "--seconds", str(seconds), "--warmup", "1",
                              "--rate", str(rate)],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=seconds + 60, check=True)
        result = json.loads(out.stdout)
        server_cpu = cpu_seconds(self.process.pid) - before
        result["server_cpu_s"] = server_cpu
        # CPU time per answer: on a shared machine a steadier measure of cost than answers per second; over
        # every answer of the run, warm-up included, as the CPU time is (before, the measured window's answers
        # alone overstated it by the warm-up's share, a quarter at 4 s + 1 s)
        result["server_cpu_ms_per_request"] = 1000 * server_cpu / max(result["answered_in_all"], 1)
        result["client_cpu_share"] = result["cpu_s"] / max(result["cpu_s"] + server_cpu, 1e-9)
        if result["errors"]:
            raise RuntimeError(f"{result['errors']} failed requests, e.g. {result['first_error']}")
        return result

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def image_path(model: str, conditional: bool) -> str:
    return f"/models/{model}/seeds/{{n}}.png?version=1" + ("&label=3" if conditional else "")


def bench_model(config_name: str, root: Path, args) -> dict:
    registry = Registry(root / config_name)
    model = "bench-" + config_name.lower()
    if config_name == "shipped":
        shutil.copytree(SHIPPED.root / SHIPPED.models()[0], registry.root / model)
    else:
        write_random_model(registry, model, config_name)
    directory = registry.path(model, "000001")
    conditional = bool(checkpoint.read_metadata(directory).get("classes"))
    result = {"model": config_name, "raw": raw_forward(directory, args.threads, args.precision)}
    print(json.dumps({"raw": result["raw"]}), flush=True)
    env = {"GAN_TORCH_THREADS": str(args.threads), "GAN_INFERENCE_PRECISION": args.precision,
           "GAN_BATCH_MAX_IMAGES": str(args.max_batch)}
    path = image_path(model, conditional)
    for batching in ("true", "false"):
        server = Server(registry.root, env | {"GAN_BATCHING": batching})
        try:
            assert server.get(path.format(n=0)).status_code == 200  # loads and prepares the version
            runs = {}
            if batching == "true":
                runs["healthz_1"] = server.load("/healthz", 1, args.seconds)
                runs["healthz_32"] = server.load("/healthz", 32, args.seconds)
            for clients in (1, 8, 32):
                runs[f"images_{clients}"] = server.load(path, clients, args.seconds)
            result["batching_" + ("on" if batching == "true" else "off")] = runs
            print(json.dumps({batching: {k: {m: v[m] for m in ("per_s", "p50_ms", "p99_ms", "client_cpu_share")}
                                         for k, v in runs.items()}}), flush=True)
        finally:
            server.stop()
    result["variants"] = compare_variants(registry.root, env, path, args)
    if args.baseline:
        result["variants_8"] = compare_variants(registry.root, env, path, args, BASELINE, clients=8)
        result["variants_1"] = compare_variants(registry.root, env, path, args, BASELINE, clients=1)
    return result


# 32 clients against a fresh server per variant, interleaved round after round so that the machine's
# drifts and the server's history (its seed cache, its heap) weigh on all alike; medians are compared
VARIANTS = {  # name -> (extra settings, extra query)
    "default": ({}, ""),
    "batching_off": ({"GAN_BATCHING": "false"}, ""),
    "route": ({}, "&via=route"),  # a parameter the seed lane does not take: every request through FastAPI
    "eager": ({"GAN_INFERENCE_GRAPH": "false"}, ""),  # the generator run eagerly, not as a traced graph
    "switch_5ms": ({"GAN_SWITCH_INTERVAL_MS": "5"}, ""),  # CPython's default switch interval
    "max_batch_32": ({"GAN_BATCH_MAX_IMAGES": "32"}, ""),  # the earlier default: one batch for all 32 clients
    # forwards on an inference thread of the API process, as before run K, instead of an inference process
    "thread_engine": ({"GAN_INFERENCE_PROCESS": "false"}, ""),
}
BASELINE = {"default": ({}, ""), "baseline": ({}, "")}  # "baseline": the server of the --baseline checkout


def compare_variants(registry: Path, env: dict[str, str], path: str, args, variants: dict = VARIANTS,
                     clients: int = 32) -> dict:
    if variants is VARIANTS:
        variants = variants | dict(args.variant)
    if args.baseline and "baseline" not in variants:
        variants = variants | {"baseline": BASELINE["baseline"]}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (settings, query) in variants.items():
            server = Server(registry, env | settings, args.baseline if name == "baseline" else REPO_ROOT)
            try:
                assert server.get((path + query).format(n=0)).status_code == 200
                runs[name].append(server.load(path + query, clients, args.seconds))
                if name == "default" and clients == 32:
                    # the same server's ceiling right after: on a machine whose speed drifts from minute to
                    # minute, each round's images/s is judged against a ceiling measured beside it
                    runs[name][-1]["healthz_per_s"] = server.load("/healthz", clients, args.seconds)["per_s"]
            finally:
                server.stop()
    out = {name: {"per_s": [r["per_s"] for r in rs], "median_per_s": statistics.median(r["per_s"] for r in rs),
                  "median_p50_ms": statistics.median(r["p50_ms"] for r in rs),
                  "median_server_cpu_ms": statistics.median(r["server_cpu_ms_per_request"] for r in rs)}
           for name, rs in runs.items()}
    if "default" in runs and "healthz_per_s" in runs["default"][0]:
        out["default"]["healthz_per_s"] = [r["healthz_per_s"] for r in runs["default"]]
    print(json.dumps({f"variants_{clients}": {k: v["per_s"] for k, v in out.items()}}), flush=True)
    return out


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory of the API process and of its inference process (its children)."""
    api = rss_mib(pid)
    inference = sum(rss_mib(child) for child in children(pid))
    return {"api": api, "inference": inference, "total": api + inference}


def bench_memory(root: Path, args, server_root: Path = REPO_ROOT) -> dict:
    """Resident memory across 10 versions loaded in turn (LRU of 3), and how long a request that loads its
    version takes: with 10 versions cycling through an LRU of 3, every request after the first loads one."""
    registry = Registry(root / "memory")
    if not registry.root.exists():  # the same versions for this checkout and the baseline's
        write_random_model(registry, "mem", "64x64x3", versions=10)
    server = Server(registry.root, {"GAN_TORCH_THREADS": str(args.threads), "GAN_CACHE_SIZE": "3",
                                    "GAN_INFERENCE_PRECISION": args.precision}, server_root)
    try:
        base = memory_mib(server.process.pid)
        assert server.get("/models/mem/seeds/1.png?version=1").status_code == 200
        one = memory_mib(server.process.pid)
        after, loading_ms = [], []
        for _ in range(args.memory_passes):
            for v in range(1, 11):
                begin = time.perf_counter()
                assert server.get(f"/models/mem/seeds/1.png?version={v}").status_code == 200
                loading_ms.append(1000 * (time.perf_counter() - begin))
                after.append(memory_mib(server.process.pid))
        loaded = server.get("/readyz").json()["models_loaded"]
    finally:
        server.stop()
    loading_ms = loading_ms[1:]  # version 1 was still loaded from the first request
    return {"rss_mib_started": base, "rss_mib_one_model": one, "rss_mib_after_each_load": after,
            "models_loaded_at_end": len(loaded), "loading_request_ms": loading_ms,
            "median_loading_request_ms": statistics.median(loading_ms)}


def baseline_gains(result: dict) -> dict:
    """This checkout's images/s over the --baseline checkout's, per number of clients (none without one)."""
    runs = {32: result["variants"], **{c: result.get(f"variants_{c}", {}) for c in (8, 1)}}
    return {f"baseline_gain_{c}": r["default"]["median_per_s"] / r["baseline"]["median_per_s"]
            for c, r in runs.items() if "baseline" in r}


def summarise(result: dict) -> dict:
    raw, on, variants = result["raw"], result["batching_on"], result["variants"]
    limit = min(raw["best_images_per_s"], on["healthz_32"]["per_s"])
    floor = raw["batch1_ms"] + raw["encode_ms"] + on["healthz_1"]["p50_ms"]
    # the forward and encoding as a lone request meets them, after the inference thread slept
    idle_floor = raw["batch1_encode_after_idle_ms"] + on["healthz_1"]["p50_ms"]
    median = {name: v["median_per_s"] for name, v in variants.items()}
    return {"model": result["model"],
            "raw_best_images_per_s": raw["best_images_per_s"], "http_ceiling_per_s": on["healthz_32"]["per_s"],
            "images_32_per_s": on["images_32"]["per_s"], "fraction_of_limit": on["images_32"]["per_s"] / limit,
            "images_32_median_fresh_per_s": median["default"],
            "fraction_of_limit_median_fresh": median["default"] / limit,
            # each fresh server's images/s over the lower of the raw forward and its own /healthz, measured
            # right after: the figure least moved by the machine's drift
            "fraction_of_limit_paired": statistics.median(
                images / min(raw["best_images_per_s"], ceiling)
                for images, ceiling in zip(variants["default"]["per_s"], variants["default"]["healthz_per_s"])),
            "batching_gain_32": median["default"] / median["batching_off"],
            "lane_gain_32": median["default"] / median["route"],
            "graph_gain_32": median["default"] / median["eager"],
            "switch_gain_32": median["default"] / median["switch_5ms"],
            "max_batch_16_gain_32": median["default"] / median["max_batch_32"],
            "process_engine_gain_32": median["default"] / median["thread_engine"],
            **baseline_gains(result),
            "idle_p50_ms": on["images_1"]["p50_ms"], "idle_floor_ms": floor,
            "idle_ratio": on["images_1"]["p50_ms"] / floor,
            "idle_floor_after_idle_ms": idle_floor,
            "idle_ratio_after_idle": on["images_1"]["p50_ms"] / idle_floor}


def extra_variant(text: str) -> tuple[str, tuple[dict[str, str], str]]:
    """'name:VAR=value,VAR=value' -> a VARIANTS entry."""
    name, _, assignments = text.partition(":")
    try:
        settings = dict(pair.split("=", 1) for pair in assignments.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME:VAR=VALUE[,VAR=VALUE...], got {text!r}") from None
    return name, (settings, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=[*CONFIGS, "shipped"],
                        help="repeat for several; default shipped and 64x64x3")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per phase")
    parser.add_argument("--threads", type=int, default=0, help="GAN_TORCH_THREADS of the server (0: its default)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--max-batch", type=int, default=Settings().batch_max_images, help="GAN_BATCH_MAX_IMAGES")
    parser.add_argument("--baseline", type=Path, help="another checkout (e.g. a git worktree of an earlier commit) "
                        "whose server is compared side by side with this one's, at 32, 8 and 1 clients")
    parser.add_argument("--variant", type=extra_variant, action="append", default=[], metavar="NAME:VAR=VALUE,...",
                        help="one more 32-client variant with these settings, e.g. "
                             "switch_0.1:GAN_SWITCH_INTERVAL_MS=0.1 (repeat for several)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 32-client variant comparison")
    parser.add_argument("--memory", action="store_true", help="also measure resident memory across swaps")
    parser.add_argument("--memory-passes", type=int, default=3, help="times the 10 versions are requested in turn")
    parser.add_argument("--memory-only", action="store_true", help="skip the speed phases")
    parser.add_argument("--out", type=Path, help="write the full results as JSON here")
    args = parser.parse_args(argv)
    results = {"threads": serving_threads(args.threads), "precision": args.precision, "models": [], "summary": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [] if args.memory_only else args.model or ["shipped", "64x64x3"]:
            result = bench_model(name, Path(tmp), args)
            results["models"].append(result)
            results["summary"].append(summarise(result))
            print(json.dumps(results["summary"][-1]), flush=True)
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

"""The family table: each GAN family trained on Fashion-MNIST by the project's own worker, scored against time.

    python -m bench.quality --threads 2                        # every family, one job after another
    python -m bench.quality --families dcgan,cdcgan --threads 2
    python -m bench.quality --skip-training                    # re-score the runs of the scratch registry
    python -m bench.quality --report --ship                    # the table and plot again; copy the zoo

A real redis-server and a real `python -m worker` (GAN_TORCH_THREADS=--threads) run the jobs one at a time,
into a scratch registry. Each job is the family's own recipe (its architecture's defaults) with only the
model name, the data, the step count that fits its budget on this machine, and the checkpoint interval set.
Afterwards every published version is scored with the full protocol (shipped extractor, N = 10,000, 1,000
per class for conditional models) and placed on a wall-clock axis: minutes from the job's enqueueing (the
worker was idle, so this is its start, start-up included) to the version's publication. A family meets its
target when the last version published within its budget does. Writes docs/quality.md's family table,
docs/images/quality-curves.png (FD against minutes for every family) and the runs as JSON; --ship copies
each job's final version into models/shipped/fashion-<family>/ where it beats the model shipped there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from redis import Redis
from rq import Queue
from rq.job import Job
from safetensors.torch import save_file

from bench.curves import plot_fd
from models import checkpoint
from models.evaluation import FULL_N, evaluate, fashion_mnist_reference
from models.evaluator import load_evaluator
from models.latents import prior_of
from models.registry import Registry
from models.spec import TrainSpec
from tests.support import RedisServer, wait_until

REPO = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
QUEUE = "quality"
TABLE_FILE = REPO / "docs" / "quality" / "families.json"  # docs/quality.md's curves and their plot
TABLE_PLOT = REPO / "docs" / "images" / "quality-curves.png"
QUALITY_KEYS = ("fd", "kid", "precision", "recall", "coverage", "class_kl", "label_accuracy")


@dataclass(frozen=True)
class Budget:
    minutes: float
    steps: int  # the job's length: what its recipe fits into the budget on this 2-core machine
    fd: float  # targets of the family issue: FD at most, coverage and label accuracy at least
    coverage: float
    label_accuracy: float | None = None
    checkpoints: int = 10
    fields: dict = field(default_factory=dict)  # anything a job sets beyond its name, data and length


BUDGETS: dict[str, Budget] = {
    "dcgan": Budget(10, 5_000, fd=8, coverage=0.7),
    "cdcgan": Budget(10, 5_000, fd=6, coverage=0.0, label_accuracy=0.90),
    "wgan-gp": Budget(20, 10_000, fd=15, coverage=0.6),
    # growing takes the first half of a job; a length that fits the budget, so the job ends at full size
    "progan": Budget(20, 6_000, fd=15, coverage=0.6),
    "wgan": Budget(20, 11_000, fd=30, coverage=0.5),
    # constant rates: the length sets only the checkpoints' spacing, and the table takes the last version within
    # the budget, however many steps a machine fits (docs/quality.md says what each run fitted)
    "gan": Budget(20, 56_000, fd=30, coverage=0.5),
    "cgan": Budget(20, 38_000, fd=30, coverage=0.5, label_accuracy=0.80),
}


def job_fields(family: str, budget: Budget) -> dict:
    # scoring is done afterwards at the full protocol, so the job's own scoring at checkpoints is off
    return {"model": f"fashion-{family}", "dataset": {"kind": "fashion-mnist"}, "architecture": family,
            "steps": budget.steps, "checkpoint_every": budget.steps // budget.checkpoints,
            "sample_every": budget.steps // budget.checkpoints, "eval_samples": 0, "seed": 0, **budget.fields}


def save_runs(path: Path, runs: dict[str, dict]) -> None:
    """Merged into what the file holds: two instances may train different families into one scratch registry."""
    held = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps(held | runs, indent=2))


def parse_time(stamp: str) -> datetime:
    """RQ's and the checkpoints' UTC times: naive, aware, or with a Z."""
    parsed = datetime.fromisoformat(stamp.removesuffix("Z"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def stamp(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def train(jobs: dict[str, dict], registry_root: Path, threads: int, workdir: Path) -> dict[str, dict]:
    """Each named job (its TrainSpec fields) through a real Redis and a real worker, one after another."""
    redis = RedisServer(workdir)
    redis.start()
    env = {**os.environ, "GAN_REGISTRY_DIR": str(registry_root), "GAN_REDIS_URL": redis.url,
           "GAN_QUEUES": QUEUE, "GAN_TORCH_THREADS": str(threads), "GAN_DEVICE": "cpu"}
    log = open(workdir / "worker.log", "ab")
    worker = subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    connection = Redis.from_url(redis.url)
    runs = {}
    try:
        for name, fields in jobs.items():
            spec = TrainSpec.model_validate(fields)
            load = os.getloadavg()[0]
            job = Queue(QUEUE, connection=connection).enqueue_call(
                "worker.jobs.train", args=(spec.model_dump(mode="json"),), timeout=6 * 3600,
                meta={"model": spec.model, "spec": spec.model_dump(mode="json")})
            print(f"{name}: job {job.id}, {spec.steps} steps", flush=True)

            def ended() -> bool:
                job.refresh()
                assert job.get_status() != "failed", (workdir / "worker.log").read_text()[-3000:]
                return job.get_status() == "finished"

            wait_until(ended, timeout=6 * 3600, interval=2.0, what=f"the {name} job")
            job = Job.fetch(job.id, connection=connection)
            runs[name] = {"job": job.id, "spec": spec.model_dump(mode="json", exclude_defaults=True),
                          "enqueued_at": stamp(job.enqueued_at), "started_at": stamp(job.started_at),
                          "ended_at": stamp(job.ended_at), "threads": threads,
                          "load_average": [round(load, 2), round(os.getloadavg()[0], 2)]}
            print(f"{name}: finished, load average {runs[name]['load_average']}", flush=True)
    finally:
        worker.terminate()
        worker.wait(30)
        redis.stop()
    return runs


def score(name: str, run: dict, registry: Registry, reference, keys: tuple[str, ...] = QUALITY_KEYS) -> list[dict]:
    """Every version of the run's model at the full protocol, with its minutes since the job was enqueued."""
    start = parse_time(run["enqueued_at"])
    curve = []
    model = run["spec"]["model"]
    for version in registry.versions(model):
        generator, metadata = checkpoint.load_generator(registry.path(model, version))
        classes = len(metadata["classes"]) if metadata.get("classes") else 0
        result = evaluate(generator, metadata["latent_dim"], classes, reference, FULL_N, prior=prior_of(metadata))
        minutes = (parse_time(metadata["created_at"]) - start).total_seconds() / 60
        point = {"version": version, "step": metadata["step"], "minutes": round(minutes, 2),
                 **{k: result.get(k) for k in keys}}
        curve.append(point)
        print(f"  {name} {version} step {point['step']} at {point['minutes']} min: FD {point['fd']:.2f}, "
              f"coverage {point['coverage']:.3f}", flush=True)
    return curve


def at_budget(curve: list[dict], budget: Budget) -> dict | None:
    within = [p for p in curve if p["minutes"] <= budget.minutes]
    return within[-1] if within else None


def verdict(point: dict | None, budget: Budget) -> bool:
    if point is None:
        return False
    return (point["fd"] <= budget.fd and point["coverage"] >= budget.coverage
            and (budget.label_accuracy is None or (point["label_accuracy"] or 0) >= budget.label_accuracy))


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def window_speeds(curve: list[dict]) -> list[float]:
    """Steps per second between consecutive versions: a run that slows down late (subnormal floats on a CPU)
    shows here, where timing its first steps would not."""
    return [(b["step"] - a["step"]) / max((b["minutes"] - a["minutes"]) * 60, 1e-9) for a, b in zip(curve, curve[1:])]


def table(runs: dict[str, dict]) -> str:
    lines = ["| family | budget | target | FD | coverage | label acc. | recall | steps | minutes | steps/s, first / "
             "slowest / last window | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for family, run in runs.items():
        budget, point = BUDGETS[family], run.get("at_budget")
        target = f"FD <= {budget.fd:g}" + (f", coverage >= {budget.coverage:g}" if budget.coverage else "") + (
            f", label acc. >= {budget.label_accuracy:g}" if budget.label_accuracy else "")
        speeds = window_speeds(run["curve"])
        windows = f"{speeds[0]:.1f} / {min(speeds):.1f} / {speeds[-1]:.1f}" if speeds else "-"
        if point is None:
            lines.append(f"| {family} | {budget.minutes:g} min | {target} | - | - | - | - | - | - | {windows} | no |")
            continue
        lines.append(f"| {family} | {budget.minutes:g} min | {target} | {fmt(point['fd'], 2)} | "
                     f"{fmt(point['coverage'])} | {fmt(point['label_accuracy'])} | {fmt(point['recall'])} | "
                     f"{point['step']} | {point['minutes']:.1f} | {windows} | {'yes' if run['met'] else '**no**'} |")
    return "\n".join(lines)


def quality_block(point: dict) -> dict:
    return {"protocol": f"shipped extractor, N = {FULL_N:,}", **{k: point.get(k) for k in QUALITY_KEYS}}


# the shipped versions that keep their discriminator: the default's (projection's feature loss) and dcgan's (the
# features bench, docs/models.md); with every family's the zoo would pass the 40 MB the family issue allows
SHIPPED_DISCRIMINATORS = frozenset({"cdcgan", "dcgan"})


def discriminator_state(source: Path, metadata: dict) -> dict[str, torch.Tensor] | None:
    """The job's trained discriminator: its own file, or the D half of the resume state of a version published
    before versions kept it."""
    if checkpoint.has_discriminator(metadata):
        return None  # copied with the other files
    if checkpoint.TRAINING not in metadata["files"]:
        return None
    tensors, _ = checkpoint.load_training_state(source)
    return {k.removeprefix("d."): v for k, v in tensors.items() if k.startswith("d.")}


def ship(family: str, run: dict, registry: Registry, into: Path, reference) -> None:
    """The job's final version, without its resume state (and without its discriminator outside
    SHIPPED_DISCRIMINATORS), as models/shipped/fashion-<family>/000001, unless the model shipped there now
    scores at least as well and keeps what it should (then its metadata gets its quality as scored now)."""
    keeps_discriminator = family in SHIPPED_DISCRIMINATORS
    point = run["curve"][-1]
    target = into / f"fashion-{family}"
    shipped = sorted(p for p in target.iterdir() if p.is_dir()) if target.is_dir() else []
    if shipped:
        generator, metadata = checkpoint.load_generator(shipped[-1])
        classes = len(metadata["classes"]) if metadata.get("classes") else 0
        current = evaluate(generator, metadata["latent_dim"], classes, reference, FULL_N)
        if current["fd"] <= point["fd"] and (checkpoint.has_discriminator(metadata) or not keeps_discriminator):
            if not keeps_discriminator and metadata["files"].pop(checkpoint.DISCRIMINATOR, None) is not None:
                (shipped[-1] / checkpoint.DISCRIMINATOR).unlink()
            metadata["quality"] = quality_block(current)
            (shipped[-1] / checkpoint.METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))
            print(f"kept {target.name} {shipped[-1].name}: FD {current['fd']:.2f} <= {point['fd']:.2f}", flush=True)
            return
    source = registry.path(f"fashion-{family}", point["version"])
    metadata = checkpoint.read_metadata(source)
    discriminator = discriminator_state(source, metadata) if keeps_discriminator else None
    metadata["files"].pop(checkpoint.TRAINING, None)
    if not keeps_discriminator:
        metadata["files"].pop(checkpoint.DISCRIMINATOR, None)
    metadata["quality"] = {**quality_block(point), "minutes": point["minutes"]}
    metadata["shipped_from"] = {"job": run["job"], "spec": run["spec"], "version": point["version"]}
    shutil.rmtree(target, ignore_errors=True)

    def build(directory: Path) -> None:
        for name in metadata["files"]:
            shutil.copyfile(source / name, directory / name)
        if discriminator is not None:
            save_file(discriminator, str(directory / checkpoint.DISCRIMINATOR))
            metadata["files"][checkpoint.DISCRIMINATOR] = checkpoint.sha256_file(directory / checkpoint.DISCRIMINATOR)
        (directory / checkpoint.METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))

    version = Registry(into).publish(f"fashion-{family}", build)
    checkpoint.load_generator(into / f"fashion-{family}" / version)  # hashes and shapes verified
    if keeps_discriminator:
        checkpoint.load_discriminator(into / f"fashion-{family}" / version)
    print(f"shipped fashion-{family} {version} (step {point['step']}, FD {point['fd']:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(BUDGETS), help="comma-separated; default: all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=REPO / "registry" / ".bench-quality")
    parser.add_argument("--skip-training", action="store_true", help="re-score the scratch registry's runs")
    parser.add_argument("--report", action="store_true", help="neither train nor score: the table, the plot "
                                                             "and --ship from the runs scored before")
    parser.add_argument("--ship", action="store_true", help="copy each job's final version into models/shipped "
                                                           "where it scores better than the model shipped there")
    parser.add_argument("--out", type=Path, default=TABLE_FILE,
                        help="the curves as JSON; the plot goes beside it, or to docs/images for the table's file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = set(families) - set(BUDGETS)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)}; valid: {', '.join(BUDGETS)}")

    runs_file = args.scratch / "runs.json"
    runs = json.loads(runs_file.read_text()) if runs_file.is_file() else {}
    if not (args.skip_training or args.report):
        for family in families:
            shutil.rmtree(args.scratch / f"fashion-{family}", ignore_errors=True)
        args.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="quality-") as workdir:
            runs |= train({f: job_fields(f, BUDGETS[f]) for f in families}, args.scratch, args.threads,
                          Path(workdir))
        save_runs(runs_file, {f: runs[f] for f in families})  # only ours: others may have saved since we read
        runs = json.loads(runs_file.read_text())

    registry = Registry(args.scratch)
    reference = fashion_mnist_reference(FASHION, args.scratch / ".reference", load_evaluator())
    for family in [] if args.report else families:
        print(f"scoring {family}", flush=True)
        run = runs[family]
        run["curve"] = score(family, run, registry, reference)
        run["at_budget"] = at_budget(run["curve"], BUDGETS[family])
        run["met"] = verdict(run["at_budget"], BUDGETS[family])
    if not args.report:
        save_runs(runs_file, {f: runs[f] for f in families})
        runs = json.loads(runs_file.read_text())
    # a family this scratch registry never scored keeps its record from the table's file (trained elsewhere)
    recorded = json.loads(args.out.read_text()) if args.out.is_file() else {}
    pool = recorded | {f: run for f, run in runs.items() if "curve" in run}
    scored = {f: pool[f] for f in BUDGETS if f in pool}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(scored, indent=2) + "\n")
    plot = TABLE_PLOT if args.out.resolve() == TABLE_FILE.resolve() else args.out.with_suffix(".png")
    plot_fd({f: r["curve"] for f, r in scored.items()}, plot,
            "wall-clock minutes from the job's start", targets={f: BUDGETS[f].fd for f in scored})
    print(table(scored))
    if args.ship:
        for family in families:
            if runs[family].get("curve"):
                ship(family, runs[family], registry, REPO / "models" / "shipped", reference)


if __name__ == "__main__":
    main()

"""Latent size and prior, measured: dcgan on Fashion-MNIST with latent_dim 100 or 10, normal or uniform latents.

    python -m bench.latent_priors --threads 1                  # train the three runs, score them, print the table
    python -m bench.latent_priors --skip-training              # re-score the scratch registry's runs

Each run is dcgan's own recipe (bench/quality.py's dcgan job) at the same step budget, differing only in
latent_dim or latent_distribution, trained by a real worker through a real Redis, one after another. Each
final version is scored with the full protocol (shipped extractor, N = 10,000): FD, precision, recall,
density, coverage, and diversity, the mean feature distance between two random samples, set beside the same
figure for the real test images; samples that are more alike than the data score below it. Writes the runs
as JSON for docs/models.md's table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import torch

from bench.quality import BUDGETS, FASHION, REPO, fmt, job_fields, save_runs, score, train
from models.evaluation import FULL_N, fashion_mnist_reference
from models.evaluator import load_evaluator
from models.metrics import mean_pairwise_distance
from models.registry import Registry

STEPS = 2_000  # per run: a few minutes of dcgan on one thread
KEYS = ("fd", "fd_noise", "precision", "recall", "density", "coverage", "diversity")
RUNS = {  # the first is the baseline: dcgan's defaults
    "dim100-normal": {"latent_dim": 100, "latent_distribution": "normal"},
    "dim10-normal": {"latent_dim": 10, "latent_distribution": "normal"},
    "dim100-uniform": {"latent_dim": 100, "latent_distribution": "uniform"},
}


def run_fields(name: str, steps: int) -> dict:
    budget = dataclasses.replace(BUDGETS["dcgan"], steps=steps, checkpoints=1,
                                 fields={"model": f"latents-{name}", **RUNS[name]})
    return job_fields("dcgan", budget)


def table(runs: dict[str, dict], real_diversity: float) -> str:
    lines = ["| run | latent_dim | prior | FD | precision | recall | density | coverage | diversity | steps "
             "| minutes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        point = run["curve"][-1]
        lines.append(f"| {name} | {RUNS[name]['latent_dim']} | {RUNS[name]['latent_distribution']} | "
                     f"{fmt(point['fd'], 2)} | {fmt(point['precision'])} | {fmt(point['recall'])} | "
                     f"{fmt(point['density'])} | {fmt(point['coverage'])} | {fmt(point['diversity'], 2)} | "
                     f"{point['step']} | {point['minutes']:.1f} |")
    lines.append(f"| real test images | | | | | | | | {real_diversity:.2f} | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps of every run")
    parser.add_argument("--scratch", type=Path, default=REPO / "registry" / ".bench-latent-priors")
    parser.add_argument("--skip-training", action="store_true", help="re-score the scratch registry's runs")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "quality" / "latent-priors.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    runs_file = args.scratch / "runs.json"
    if not args.skip_training:
        shutil.rmtree(args.scratch, ignore_errors=True)
        args.scratch.mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="latent-priors-") as workdir:
            save_runs(runs_file, train({name: run_fields(name, args.steps) for name in RUNS}, args.scratch,
                                       args.threads, Path(workdir)))
    runs = json.loads(runs_file.read_text())

    registry = Registry(args.scratch)
    reference = fashion_mnist_reference(FASHION, args.scratch / ".reference", load_evaluator())
    for name, run in runs.items():
        print(f"scoring {name}", flush=True)
        run["curve"] = score(name, run, registry, reference, KEYS)
    real_diversity = mean_pairwise_distance(reference.features)
    result = {"protocol": f"shipped extractor, N = {FULL_N:,}", "real_diversity": real_diversity, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(runs, real_diversity))


if __name__ == "__main__":
    main()

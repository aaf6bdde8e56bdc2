"""The quality table: train each architecture of the table on Fashion-MNIST for a fixed budget, score, report.

    python bench/quality.py --minutes 6 --max-steps 20000 --checkpoint-every 250

For every family in models.architectures.ARCHITECTURES (or --families): train at 28x28 (32x32 for families
that need a power of two; samples are resized to 28 for the extractor) with the spec's
defaults on --threads threads until --minutes or --max-steps, publishing a checkpoint every
--checkpoint-every steps into a scratch registry; then score every checkpoint in order with the worker's
rules (N = 2,000, the promotion guard, `best` moved only beyond the noise); then evaluate the final and the best checkpoints
with the full protocol (N = 10,000, 1,000 per class for conditional models) and write docs/quality.md
with a sample grid per family under docs/quality/. --shipped adds rows for the shipped default models.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import checkpoint, idx, metrics, quality  # noqa: E402
from models.architectures import ARCHITECTURES, get_architecture  # noqa: E402
from models.evaluation import FULL_N, TRAINING_N, evaluate, fashion_mnist_reference  # noqa: E402
from models.evaluator import load_evaluator  # noqa: E402
from models.registry import Registry  # noqa: E402
from models.spec import TrainSpec  # noqa: E402
from worker import datasets  # noqa: E402
from worker.trainer import Callbacks, Trainer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")


def train_family(family: str, registry: Registry, minutes: float, max_steps: int, every: int, seed: int) -> dict:
    """Train one family for the budget, publishing every `every` steps; scoring waits for score_run."""
    fields = {"model": f"quality-{family}", "dataset": {"kind": "fashion-mnist"}, "architecture": family,
              "image_size": 28, "channels": 1, "steps": max_steps, "checkpoint_every": every,
              "sample_every": max_steps, "seed": seed, "eval_samples": 0}
    try:
        spec = TrainSpec.model_validate(fields)
    except ValueError:  # families that only grow powers of two (progan) train at 32; the extractor resizes
        spec = TrainSpec.model_validate({**fields, "image_size": 32})
    data = datasets.load(spec.dataset, spec.height, spec.width, 1, FASHION, [], seed=seed)
    start = time.monotonic()

    def publish(c) -> str:
        return registry.publish(spec.model, lambda d: checkpoint.write_checkpoint(
            d, c.metadata, c.generator_state, None, None, c.samples_png))

    def should_stop() -> bool:
        return time.monotonic() - start > minutes * 60

    trainer = Trainer(spec, data, Callbacks(publish=publish, should_stop=should_stop), torch.device("cpu"),
                      progress_every_s=5.0)
    result = trainer.run()
    return {"family": family, "model": spec.model, "steps": result.step,
            "minutes": round((time.monotonic() - start) / 60, 1), "objective": spec.objective_name,
            "batch_size": spec.batch_size}


def score_run(registry: Registry, model: str, reference, n: int = TRAINING_N) -> list[dict]:
    """Score every checkpoint in publishing order with the worker's rules: guard flags, `best` beyond noise."""
    history, previous, incumbent = [], None, None
    for version in registry.versions(model):
        generator, metadata = checkpoint.load_generator(registry.path(model, version))
        num_classes = len(metadata["classes"]) if metadata.get("classes") else 0
        scored = evaluate(generator, metadata["latent_dim"], num_classes, reference, n)
        scored["flags"] = quality.flags(scored, previous)
        promoted = quality.improves(scored, incumbent)
        if promoted:
            registry.set_best(model, version)
            incumbent = scored
        previous = scored
        history.append({"version": version, "step": metadata["step"], "fd": scored.get("fd"),
                        "coverage": scored.get("coverage"), "flags": scored["flags"], "best": promoted})
        print(f"  {model} step {metadata['step']}: FD {scored.get('fd', float('nan')):.2f} (N={n})"
              f"{' -> best' if promoted else ''} {scored['flags'] or ''}", flush=True)
    return history


def full_evaluation(directory: Path, reference) -> dict:
    generator, metadata = checkpoint.load_generator(directory)
    num_classes = len(metadata["classes"]) if metadata.get("classes") else 0
    result = evaluate(generator, metadata["latent_dim"], num_classes, reference, FULL_N)
    result["step"] = metadata.get("step")
    return result


def real_baseline(reference, seed: int = 0) -> dict:
    """10,000 real training images scored like a generator: the floor every figure sits on."""
    images, labels = idx.read_split(FASHION, "train")
    pick = np.random.default_rng(seed).permutation(len(images))[:FULL_N]
    x = torch.from_numpy(images[pick].copy())[:, None].float().div(127.5).sub(1.0)
    features, logits = reference.extractor(x)
    fake = features.numpy()
    out = {"n": FULL_N, "fd": metrics.frechet_distance(metrics.statistics(fake), reference.stats)}
    out["kid"] = metrics.kid(reference.features, fake, seed=seed)["mean"]
    out |= metrics.prdc(reference.features, fake)
    predictions = logits.argmax(1).numpy()
    out["class_kl"] = metrics.kl_to_uniform(metrics.class_histogram(predictions, 10))
    out["label_accuracy"] = metrics.label_accuracy(predictions, labels[pick], 10)["mean"]
    return out


def fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def row(name: str, which: str, r: dict, steps, minutes, grid: str) -> str:
    return (f"| {name} | {which} | {fmt(r.get('fd'), 2)} | {fmt(r.get('kid'), 4)} | {fmt(r.get('precision'))} | "
            f"{fmt(r.get('recall'))} | {fmt(r.get('coverage'))} | {fmt(r.get('class_kl'), 4)} | "
            f"{fmt(r.get('label_accuracy'))} | {steps} | {minutes} | {grid} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(ARCHITECTURES), help="comma-separated; default: the table")
    parser.add_argument("--minutes", type=float, default=6.0, help="training wall-clock per family")
    parser.add_argument("--max-steps", type=int, default=20_000)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", type=Path, default=REPO / "registry" / ".bench-quality")
    parser.add_argument("--shipped", action="store_true", help="also evaluate models/shipped/*/latest")
    parser.add_argument("--train-only", action="store_true", help="train and stop (before the extractor exists)")
    parser.add_argument("--skip-training", action="store_true", help="reuse the scratch registry's runs")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "quality.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    families = [get_architecture(f.strip()).name for f in args.families.split(",") if f.strip()]

    registry = Registry(args.scratch)
    runs_file = args.scratch / "runs.json"
    runs = json.loads(runs_file.read_text()) if args.skip_training and runs_file.is_file() else {}
    if not args.skip_training:
        shutil.rmtree(args.scratch, ignore_errors=True)
        for family in families:
            print(f"training {family} for {args.minutes} min / {args.max_steps} steps", flush=True)
            load_before = os.getloadavg()[0]
            runs[family] = train_family(family, registry, args.minutes, args.max_steps, args.checkpoint_every,
                                        args.seed)
            # the 1-minute load average around each run says whether the machine was shared meanwhile
            runs[family]["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
            runs_file.write_text(json.dumps(runs, indent=2))
    if args.train_only:
        return

    reference = fashion_mnist_reference(FASHION, args.scratch.parent / ".reference", load_evaluator())
    for family in families:
        print(f"scoring the checkpoints of {family}", flush=True)
        runs[family]["history"] = score_run(registry, runs[family]["model"], reference)
    runs_file.write_text(json.dumps(runs, indent=2))
    grids = args.out.parent / "quality"
    grids.mkdir(parents=True, exist_ok=True)
    lines = []
    for family in families:
        run = runs[family]
        model = run["model"]
        final = registry.latest(model)
        best = registry.best(model)
        for which, version in (("final", final), ("best", best)):
            if version is None:
                lines.append(row(family, f"{which}: none (every checkpoint flagged)", {}, run["steps"],
                                 run["minutes"], "-"))
                continue
            if which == "best" and version == final:
                lines.append(row(family, f"best = final ({version})", {}, "", "", ""))
                continue
            print(f"full evaluation of {family} {which} ({version})", flush=True)
            directory = registry.path(model, version)
            result = full_evaluation(directory, reference)
            grid = grids / f"{family}-{which}.png"
            shutil.copyfile(directory / checkpoint.SAMPLES, grid)
            lines.append(row(family, f"{which} ({version}, step {result['step']})", result, run["steps"],
                             run["minutes"], f"![{family} {which}](quality/{grid.name})"))
    shipped_lines = []
    if args.shipped:
        shipped = Registry(REPO / "models" / "shipped")
        for model in shipped.models():
            version = shipped.latest(model)
            directory = shipped.path(model, version)
            print(f"full evaluation of shipped {model} ({version})", flush=True)
            result = full_evaluation(directory, reference)
            meta = checkpoint.read_metadata(directory)
            grid = grids / f"shipped-{model}.png"
            shutil.copyfile(directory / checkpoint.SAMPLES, grid)
            shipped_lines.append(row(f"shipped {model}", f"{version} (step {result['step']})", result,
                                     meta.get("step"), "-", f"![{model}](quality/{grid.name})"))
            (grids / f"shipped-{model}.json").write_text(json.dumps(result, indent=2))
    print("real training images vs the test split", flush=True)
    real = real_baseline(reference)

    evaluator = load_evaluator()
    header = ("| family | checkpoint | FD | KID | precision | recall | coverage | class KL | label acc. | steps | "
              "minutes | samples |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    command = (f"python bench/quality.py --families {','.join(families)} --minutes {args.minutes:g} "
               f"--max-steps {args.max_steps} --checkpoint-every {args.checkpoint_every} --threads {args.threads}"
               + (" --shipped" if args.shipped else ""))
    load_averages = ", ".join(f"{f} {runs[f].get('load_average', ['?', '?'])[0]}-{runs[f].get('load_average', ['?', '?'])[1]}"
                              for f in families)
    text = f"""# Sample quality

Produced by `{command}` on {time.strftime('%Y-%m-%d')}.

Protocol: features of the shipped extractor `{evaluator.version}` (a Fashion-MNIST CNN, test accuracy
{evaluator.test_accuracy}; `models/evaluator/{evaluator.version}.json`), reference = the 10,000 test images.
Every figure below is the full protocol: N = 10,000 generated samples (1,000 per class for conditional
models), FD on the 128 penultimate features, KID (unbiased, cubic kernel, 100 subsets of 1,000),
precision/recall (k = 3), coverage (k = 5), KL of the predicted-class histogram to uniform, label accuracy
(conditional models: share classified as the requested class). FD is comparable only at the same N and
extractor; the noise between two halves of the test split, scaled to N = 10,000, is
{reference.noise_n / FULL_N:.3f}. Each checkpoint (every {args.checkpoint_every} steps) was scored at N = 2,000 in
order, with the worker's promotion guard, and `best` moved only when FD improved beyond the noise at that N.

Budget: each family trained for at most {args.minutes:g} wall-clock minutes or
{args.max_steps} steps, at {args.threads} torch thread{'s' if args.threads > 1 else ''}, batch 64, on this 2-core machine (1-minute load average
before and after each family's run: {load_averages}), so the step counts below are what that budget bought.

{header}
{row('real train images', '10,000 random', real, '-', '-', '-')}
{chr(10).join(shipped_lines + lines)}

The first row scores 10,000 real training images as if they were generated: the floor of each figure
with this extractor (its label accuracy is the extractor's own accuracy on training images). KID is in
this extractor's feature units (unnormalised ReLU features, the cubic kernel amplifies their scale), so
it compares rows of this table, not the Inception KIDs of papers.

Inception FID (the papers' metric: 10,000 generated vs the 10,000 test images through the standard
TorchScript InceptionV3) is computed separately, at about 25 minutes per 10,000 images on this CPU:
`python bench/inception_fid.py --model <name> --version best --n 10000`.
"""
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

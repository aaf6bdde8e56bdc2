"""Trains each GAN family briefly on Fashion-MNIST on the CPU and writes its sample grid and curves.

A bounded run: every family stops at its step budget or after --seconds, whichever comes first, so the
whole script takes at most about len(families) * seconds. The grids are the job's fixed held-out latents
(one row per class for conditional models), rendered by the published checkpoint, as /train/{id}/samples
shows them. Usage (from the repository root):

    GAN_TORCH_THREADS=1 .venv/bin/python bench/family_samples.py --seconds 150 --out docs/images
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.plots import plot_metrics  # noqa: E402
from models.spec import TrainSpec  # noqa: E402
from worker import datasets  # noqa: E402
from worker.settings import WorkerSettings  # noqa: E402
from worker.trainer import Callbacks, Trainer  # noqa: E402

# family -> the spec fields that differ from the paper defaults the architecture table fills in
FAMILIES: dict[str, dict] = {
    "gan": {"architecture": "gan", "image_size": 28},
    "cgan": {"architecture": "cgan", "image_size": 28},
    "dcgan": {"architecture": "dcgan", "image_size": 28, "base_width": 32},
    "cdcgan": {"architecture": "cdcgan", "image_size": 28, "base_width": 32},
    "wgan": {"architecture": "wgan", "image_size": 28, "base_width": 32},
    "wgan-gp": {"architecture": "wgan-gp", "image_size": 28, "base_width": 32},
    # short phases of 40 steps (4x4, then a fade-in and a stable phase per level): 32x32 fades in from step 200
    "progan": {"architecture": "progan", "image_size": 32, "base_width": 32, "growth_phase_steps": 40},
}


def train_family(name: str, fields: dict, steps: int, seconds: float, images: int, out: Path) -> dict:
    spec = TrainSpec.model_validate({
        "model": f"fashion-{name}", "dataset": {"kind": "fashion-mnist", "limit": images}, "channels": 1,
        "batch_size": 64, "steps": steps, "checkpoint_every": 10**6, "sample_every": 10**6, "metrics_every": 10,
        "ema_decay": 0.99, "seed": 0, **fields})
    settings = WorkerSettings()
    data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, settings.fashion_mnist_dir, [])
    published, records, warnings = [], [], []
    started = time.monotonic()
    callbacks = Callbacks(publish=lambda c: published.append(c) or "x", metrics=records.append,
                          warning=warnings.append, should_stop=lambda: time.monotonic() - started > seconds)
    result = Trainer(spec, data, callbacks, torch.device("cpu"), progress_every_s=1.0).run()
    elapsed = time.monotonic() - started
    (out / f"family-{name}.png").write_bytes(published[-1].samples_png)
    (out / f"family-{name}-curves.png").write_bytes(plot_metrics(records, f"{name}: {result.step} steps on "
                                                                          "Fashion-MNIST, CPU"))
    last = records[-1]
    return {"family": name, "steps": result.step, "seconds": round(elapsed, 1),
            "steps_per_s": round(result.step / elapsed, 2), "last_window": last, "warnings": warnings,
            "effective": spec.effective()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--steps", type=int, default=5000, help="step budget per family (progan: its own)")
    parser.add_argument("--seconds", type=float, default=150.0, help="time budget per family")
    parser.add_argument("--images", type=int, default=20000, help="training images used")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("GAN_TORCH_THREADS", "1")) or 1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "family-samples.json"
    # a run of some families replaces their rows and keeps the others'
    summary = {row["family"]: row for row in (json.loads(path.read_text()) if path.exists() else [])}
    for name in args.families:
        row = train_family(name, FAMILIES[name], args.steps, args.seconds, args.images, args.out)
        print(json.dumps(row), flush=True)
        summary[name] = row
    path.write_text(json.dumps([summary[n] for n in FAMILIES if n in summary], indent=2))


if __name__ == "__main__":
    main()

"""A one-minute check of training and serving on a CUDA GPU, run by scripts/gpu_check.sh.

    python -m bench.gpu --seconds 60

First half: the worker's trainer (worker/trainer.py) trains a 64x64 RGB DCGAN at batch 64 on synthetic images
on the GPU until the time is up, and publishes where it stopped. Second half: that version, loaded and
prepared as the API's inference process prepares it (app/serving/prepare.py), generates images at batch
sizes 1, 16 and 128. Prints one JSON object: the device, training steps/s and images/s, the serving
precision the probes chose and images/s per batch size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from app.serving.prepare import prepare
from models import checkpoint
from models.latents import seed_latents
from models.registry import Registry
from models.spec import TrainSpec
from worker.datasets import synthetic
from worker.trainer import Callbacks, Trainer

SPEC = {"model": "gpu-check", "dataset": {"kind": "synthetic"}, "architecture": "dcgan", "image_size": 64,
        "channels": 3, "batch_size": 64, "base_width": 64, "steps": 10_000_000, "checkpoint_every": 10_000_000,
        "sample_every": 10_000_000, "eval_samples": 0}
SERVING_BATCHES = (1, 16, 128)


def train_for(seconds: float, registry: Registry, device: torch.device) -> tuple[dict, Path]:
    spec = TrainSpec.model_validate(SPEC)
    data = synthetic(spec.height, spec.width, spec.channels, count=1024)
    deadline = time.monotonic() + seconds

    def publish(c) -> str:
        return registry.publish(spec.model, lambda d: c.write(d, {**c.metadata, "model": spec.model}))

    trainer = Trainer(spec, data, Callbacks(publish=publish, should_stop=lambda: time.monotonic() > deadline),
                      device, progress_every_s=1.0)
    start = time.monotonic()
    result = trainer.run()  # stops at the first report past the deadline and publishes that step
    elapsed = time.monotonic() - start
    figures = {"steps": result.step, "seconds": round(elapsed, 1), "steps_per_s": round(result.step / elapsed, 1),
               "images_per_s": round(result.step * spec.batch_size / elapsed)}
    return figures, registry.path(spec.model, result.versions[-1])


def serve_for(seconds: float, version: Path, device: torch.device) -> dict:
    generator, metadata = checkpoint.load_generator(version, device)
    prepared = prepare(generator, device, metadata["latent_dim"], metadata.get("classes"))
    per_batch = {}
    for batch in SERVING_BATCHES:
        z = seed_latents(list(range(batch)), metadata["latent_dim"])
        prepared.images(z, None)  # warm-up: kernels chosen, graph traced
        images, start = 0, time.monotonic()
        while time.monotonic() - start < seconds / len(SERVING_BATCHES):
            images += len(prepared.images(z, None))  # uint8 on the host: the GPU work is done
        per_batch[batch] = round(images / (time.monotonic() - start))
    return {"precision": prepared.precision, "graph": prepared.graph, "images_per_s": per_batch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training and serving, half each")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True  # as the worker runs jobs on CUDA (worker/jobs.py)
    with tempfile.TemporaryDirectory() as root:
        training, version = train_for(args.seconds / 2, Registry(Path(root)), device)
        serving = serve_for(args.seconds / 2, version, device)
    print(json.dumps({"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
                      "training": training, "serving": serving}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

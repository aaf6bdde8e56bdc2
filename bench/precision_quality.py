"""Does bf16 training give the samples fp32 training gives? The shipped default's configuration, same seed.

    python -m bench.precision_quality --precision fp32 --steps 6000 --out fp32.json &
    python -m bench.precision_quality --precision bf16 --steps 6000 --out bf16.json

Trains the conditional DCGAN of the shipped default (28x28, batch 64, EMA 0.999) on Fashion-MNIST for --steps
with worker/trainer.py at the given precision (bf16: autocast on CPU or GPU), then scores the EMA generator
with the full protocol (shipped extractor, N = 10,000). Run the two precisions side by side, one thread each,
so that they share the machine alike; the seconds per step are reported with the scores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.compare_runs import FASHION, KEYS
from models.evaluation import FULL_N, evaluate, fashion_mnist_reference
from models.spec import TrainSpec
from worker import datasets
from worker.trainer import Callbacks, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=["fp32", "bf16"], required=True)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = TrainSpec.model_validate({
        "model": f"precision-{args.precision}", "dataset": {"kind": "fashion-mnist"}, "architecture": "cdcgan",
        "image_size": 28, "channels": 1, "batch_size": 64, "steps": args.steps, "checkpoint_every": args.steps,
        "sample_every": args.steps, "seed": args.seed, "precision": args.precision, "eval_samples": 0})
    data = datasets.load(spec.dataset, 28, 28, 1, FASHION, [], seed=args.seed)
    trainer = Trainer(spec, data, Callbacks(publish=lambda c: "000001"), torch.device("cpu"), progress_every_s=30)
    start = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - start
    generator = trainer.G_ema if trainer.G_ema is not None else trainer.G
    scores = evaluate(generator.float(), spec.latent_dim, 10, fashion_mnist_reference(FASHION), FULL_N)
    result = {"training_precision": args.precision, "steps": args.steps, "threads": args.threads,
              "s_per_step": seconds / args.steps, **{k: scores.get(k) for k in KEYS}, "n": scores["n"]}
    print(json.dumps(result), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

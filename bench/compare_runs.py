"""Full-protocol scores of training runs side by side: each run's checkpoints, served (EMA) and raw generator.

    python bench/compare_runs.py --registry registry --model fmnist-baseline --model fmnist-sngan --out runs.json

For every version of every --model in --registry (or only --versions), the generator it serves (the EMA of
the weights, `generator.safetensors`) and the raw generator it trained (`g.*` in `training.safetensors`) are
scored with the shipped extractor at N = 10,000 (1,000 per class), with the minutes since --started (the
jobs' start, as `GET /train/{id}` reports it). This answers which recipe and which averaging helped, and when a run first
reached a figure (time to quality).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import FASHION  # noqa: E402
from models import checkpoint  # noqa: E402
from models.architectures import get_architecture  # noqa: E402
from models.evaluation import FULL_N, evaluate, fashion_mnist_reference  # noqa: E402
from models.registry import Registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
KEYS = ("fd", "kid", "precision", "recall", "coverage", "class_kl", "label_accuracy")


def raw_generator(directory: Path, metadata: dict) -> torch.nn.Module:
    """The trained (not averaged) generator from the resume state."""
    tensors, _ = checkpoint.load_training_state(directory)
    generator = get_architecture(metadata["architecture"]).build_generator(metadata["generator_config"])
    generator.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("g.")})
    return generator.eval()


def minutes_since(start: str, stamp: str) -> float:
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return round((parse(stamp) - parse(start)).total_seconds() / 60, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=REPO / "registry")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--versions", help="comma-separated; default: all")
    parser.add_argument("--n", type=int, default=FULL_N)
    parser.add_argument("--no-raw", action="store_true", help="score only the served (EMA) generator")
    parser.add_argument("--started", help="ISO time the runs' jobs started, for minutes of training per checkpoint")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = Registry(args.registry)
    reference = fashion_mnist_reference(FASHION)
    rows = []
    for model in args.model:
        versions = args.versions.split(",") if args.versions else registry.versions(model)
        for version in versions:
            directory = registry.path(model, version)
            served, metadata = checkpoint.load_generator(directory)
            num_classes = len(metadata["classes"]) if metadata.get("classes") else 0
            kinds = [("ema", served)] + ([] if args.no_raw else [("raw", raw_generator(directory, metadata))])
            for kind, generator in kinds:
                scores = evaluate(generator, metadata["latent_dim"], num_classes, reference, args.n)
                row = {"model": model, "version": version, "step": metadata["step"], "generator": kind,
                       "created_at": metadata.get("created_at"), "n": scores["n"],
                       **{k: scores.get(k) for k in KEYS}}
                if args.started:
                    row["minutes"] = minutes_since(args.started, metadata["created_at"])
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

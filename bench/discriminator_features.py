"""The DCGAN paper's other half on Fashion-MNIST: a linear classifier on the trained discriminator's features.

    python -m bench.discriminator_features                                  # the shipped fashion-dcgan
    python -m bench.discriminator_features --model fashion-dcgan --version 000004 --registry registry

Radford et al. train an L2-SVM on the discriminator's features of CIFAR-10 with few labels. Here a multinomial
logistic regression (scikit-learn, standardised inputs, L2) is trained on the penultimate features
(`Discriminator.features`, what the last layer judges) of 100, 1,000 and all 60,000 training images (balanced
per class for the small sets, five draws each, mean and spread reported), and tested on the 10,000 test
images. Beside it, the same classifier on raw pixels and on a discriminator of the same shape with its random
initial weights, which tells what training added over the architecture alone.

A conditional discriminator (cdcgan) is not the same task: its features depend on the label it is given, and
at test time the label is the answer. With --conditional-label K every image is shown as class K; that row
says how much of the image such a discriminator still describes. Needs `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models import checkpoint, idx, images as imaging
from models.architectures import get_architecture
from models.registry import Registry

REPO = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
LABEL_COUNTS = (100, 1_000, 60_000)
DRAWS = 5  # random labelled subsets per small count


@torch.no_grad()
def extract(discriminator: torch.nn.Module, images: np.ndarray, label: int | None, batch: int = 500) -> np.ndarray:
    rows = []
    for start in range(0, len(images), batch):
        x = imaging.from_uint8(torch.from_numpy(images[start : start + batch, :, :, None]))
        labels = None if label is None else torch.full((len(x),), label, dtype=torch.int64)
        rows.append(discriminator.features(x, labels).float().numpy())
    return np.concatenate(rows)


def subset(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` indices, count/10 per class; all of them when count is the whole split."""
    if count >= len(labels):
        return np.arange(len(labels))
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), count // 10, replace=False) for c in range(10)])


def accuracy(train_x, train_y, test_x, test_y, count: int) -> tuple[float, float]:
    """Mean and standard deviation of test accuracy over the draws of `count` labelled images."""
    scores = []
    for draw in range(1 if count >= len(train_y) else DRAWS):
        chosen = subset(train_y, count, np.random.default_rng(draw))
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))
        classifier.fit(train_x[chosen], train_y[chosen])
        scores.append(classifier.score(test_x, test_y))
    return float(np.mean(scores)), float(np.std(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fashion-dcgan")
    parser.add_argument("--version", default="latest")
    parser.add_argument("--registry", type=Path, default=REPO / "models" / "shipped")
    parser.add_argument("--conditional-label", type=int, default=0, help="the class a cdcgan's D is shown")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "quality" / "discriminator-features.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    registry = Registry(args.registry)
    version = registry.resolve(args.model, args.version)
    trained, metadata = checkpoint.load_discriminator(registry.path(args.model, version))
    architecture = get_architecture(metadata["architecture"])
    torch.manual_seed(0)
    untrained = architecture.build_discriminator(metadata["generator_config"])
    if architecture.init is not None:
        untrained.apply(architecture.init)
    untrained.eval()
    label = args.conditional_label if metadata.get("classes") else None

    train_images, train_y = idx.read_split(FASHION, "train")
    test_images, test_y = idx.read_split(FASHION, "test")
    sources = {
        "raw pixels": lambda images: images.reshape(len(images), -1).astype(np.float32),
        f"{metadata['architecture']} discriminator, random weights": lambda images: extract(untrained, images, label),
        f"{metadata['architecture']} discriminator, trained ({args.model} {version}, step {metadata['step']})":
            lambda images: extract(trained, images, label),
    }
    results = {}
    for name, features in sources.items():
        started = time.perf_counter()
        train_x, test_x = features(train_images), features(test_images)
        row = {"features": int(train_x.shape[1])}
        for count in LABEL_COUNTS:
            mean, spread = accuracy(train_x, train_y, test_x, test_y, count)
            row[str(count)] = {"accuracy": round(mean, 4), "std": round(spread, 4)}
            print(f"{name}: {count} labels -> {mean:.4f} +- {spread:.4f}", flush=True)
        row["seconds"] = round(time.perf_counter() - started, 1)
        results[name] = row

    print("\n| features | dims | " + " | ".join(f"{c:,} labels" for c in LABEL_COUNTS) + " |")
    print("|---|---|" + "---|" * len(LABEL_COUNTS))
    for name, row in results.items():
        cells = " | ".join(f"{row[str(c)]['accuracy']:.1%}" + (f" ± {row[str(c)]['std']:.1%}" if row[str(c)]['std'] else "")
                           for c in LABEL_COUNTS)
        print(f"| {name} | {row['features']:,} | {cells} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model, "version": version, "label_shown": label,
                                    "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

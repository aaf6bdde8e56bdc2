"""Train the Fashion-MNIST feature extractor and write models/evaluator/<version>.{safetensors,json}.

    python bench/train_evaluator.py --version fmnist-cnn-v1

Fixed seed, CPU, deterministic algorithms: the same command gives the same weights on the same torch build.
It refuses to overwrite an existing version: a new extractor is a new version name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import idx  # noqa: E402
from models.evaluator import EVALUATOR_DIR, FEATURE_DIM, FashionCNN, sha256_file  # noqa: E402


def to_input(images) -> torch.Tensor:
    return torch.from_numpy(images.copy()).float()[:, None].div_(127.5).sub_(1.0)  # (N, 1, 28, 28) in [-1, 1]


@torch.no_grad()
def accuracy(net: FashionCNN, x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[float]]:
    net.eval()
    pred = torch.cat([net(c).argmax(1) for c in x.split(1000)])
    per_class = [(pred[y == k] == k).float().mean().item() for k in range(10)]
    return (pred == y).float().mean().item(), per_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="fmnist-cnn-v1")
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=EVALUATOR_DIR)
    args = parser.parse_args()

    weights, card = args.out / f"{args.version}.safetensors", args.out / f"{args.version}.json"
    if weights.exists() or card.exists():
        sys.exit(f"{weights.name} exists: a new extractor needs a new --version")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    train_images, train_labels = idx.read_split(args.data, "train")
    test_images, test_labels = idx.read_split(args.data, "test")
    x, y = to_input(train_images), torch.from_numpy(train_labels)
    xt, yt = to_input(test_images), torch.from_numpy(test_labels)

    net = FashionCNN()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps_per_epoch = len(x) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr * 3, epochs=args.epochs,
                                                   steps_per_epoch=steps_per_epoch)
    order_rng = torch.Generator().manual_seed(args.seed)
    start = time.monotonic()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x), generator=order_rng)
        for i in range(steps_per_epoch):
            index = order[i * args.batch_size : (i + 1) * args.batch_size]
            batch = x[index]
            # random horizontal flips: clothes are (nearly) symmetric, and it costs nothing
            flip = torch.rand(len(index), generator=order_rng) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
            loss = F.cross_entropy(net(batch), y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        acc, _ = accuracy(net, xt, yt)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.3f}, test accuracy {acc:.4f}, "
              f"{time.monotonic() - start:.0f} s", flush=True)

    test_acc, per_class = accuracy(net, xt, yt)
    train_acc, _ = accuracy(net, x, y)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    card.write_text(json.dumps({
        "version": args.version, "sha256": sha256_file(weights), "architecture": "FashionCNN",
        "num_classes": 10, "feature_dim": FEATURE_DIM, "input": "1x28x28 in [-1, 1]",
        "features": "ReLU output of the 128-unit penultimate layer",
        "test_accuracy": round(test_acc, 4), "test_accuracy_per_class": [round(a, 4) for a in per_class],
        "train_accuracy": round(train_acc, 4), "dataset": "Fashion-MNIST train split (60,000), tested on t10k",
        "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "torch": torch.__version__, "minutes": round((time.monotonic() - start) / 60, 1),
        "command": f"python bench/train_evaluator.py --version {args.version} --epochs {args.epochs} "
                   f"--seed {args.seed} --threads {args.threads}",
    }, indent=2) + "\n")
    print(f"wrote {weights} (test accuracy {test_acc:.4f})")


if __name__ == "__main__":
    main()

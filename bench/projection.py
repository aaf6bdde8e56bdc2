"""Projection of real images into the shipped conditional model's latent space: reconstruction error.

    python -m bench.projection                      # 100 Fashion-MNIST test images, 200 steps each
    python -m bench.projection --images 20 --steps 100 --pixels-alone

Each of the first N test images is projected (`models.projection.project`) under its true label, with the
discriminator's features in the loss (and with pixels alone too, given --pixels-alone). The reconstruction is compared with the image by
MSE (pixels in [0, 1]) and SSIM (scikit-image, 7x7 windows); the baseline is a random latent's image of the
same class (seed 1,000 + i), which says how much of the score the class alone explains. Medians and means
over the images; seconds per projection at --threads. Needs `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity

from models import checkpoint, idx, images as imaging
from models.latents import seed_latents
from models.projection import project

REPO = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")


def scores(reconstruction: torch.Tensor, image: torch.Tensor) -> tuple[float, float]:
    """MSE and SSIM of two (1, H, W) images in [-1, 1], on pixels in [0, 1]."""
    a, b = (reconstruction[0].numpy() + 1) / 2, (image[0].numpy() + 1) / 2
    return float(np.mean((a - b) ** 2)), float(structural_similarity(a, b, data_range=1.0))


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "mean": round(statistics.fmean(values), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "shipped" / "fashion-cdcgan" / "000001")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pixels-alone", action="store_true", help="also project without the features")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "quality" / "projection.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator, metadata = checkpoint.load_generator(args.model)
    discriminator, _ = checkpoint.load_discriminator(args.model)
    dim = metadata["latent_dim"]
    images, labels = idx.read_split(FASHION, "test")
    rows: dict[str, dict[str, list[float]]] = {name: {"mse": [], "ssim": [], "seconds": []}
                                              for name in ("pixels + features", "pixels", "random latent")}
    for i in range(args.images):
        target = imaging.from_uint8(torch.from_numpy(images[i][None, :, :, None]))[0]
        label = torch.tensor(int(labels[i]))
        for name, d in (("pixels + features", discriminator), ("pixels", None))[: 2 if args.pixels_alone else 1]:
            result = project(generator, target, dim, label=label, discriminator=d, steps=args.steps, seconds=600)
            mse, ssim = scores(result.image, target)
            for key, value in (("mse", mse), ("ssim", ssim), ("seconds", result.seconds)):
                rows[name][key].append(value)
        with torch.no_grad():
            random_image = generator(seed_latents([1_000 + i], dim), label[None])[0]
        mse, ssim = scores(random_image, target)
        rows["random latent"]["mse"].append(mse)
        rows["random latent"]["ssim"].append(ssim)
        print(f"{i + 1}/{args.images}: " + ", ".join(f"{n} MSE {r['mse'][-1]:.4f} SSIM {r['ssim'][-1]:.3f}"
                                                     for n, r in rows.items() if r["mse"]), flush=True)

    results = {name: {key: summary(values) for key, values in row.items() if values}
               for name, row in rows.items() if row["mse"]}
    print("\n| latent | MSE median (mean) | SSIM median (mean) | seconds per image |\n|---|---|---|---|")
    for name, r in results.items():
        seconds = f"{r['seconds']['median']:.2f}" if "seconds" in r else "-"
        print(f"| {name} | {r['mse']['median']:.4f} ({r['mse']['mean']:.4f}) | "
              f"{r['ssim']['median']:.3f} ({r['ssim']['mean']:.3f}) | {seconds} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": str(args.model.relative_to(REPO)), "images": args.images,
                                    "steps": args.steps, "threads": args.threads, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""PNG encoding: milliseconds and bytes per zlib level, for one image and for a grid, on real pictures.

    python -m bench.png

Pictures: Fashion-MNIST test images (28x28 grey; the shipped default's kind of output) and the synthetic bar
images upscaled to 64x64 RGB, each alone and as an 8x8 grid assembled by models/images.py. Medians of
repeated timings; the level models/images.py uses is chosen from this table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from models import images as imaging
from worker.datasets import load_idx_dir, synthetic

LEVELS = (0, 1, 3, 6, 9)


def pictures(fashion: Path) -> dict[str, np.ndarray]:
    out = {}
    if fashion.is_dir():
        data = load_idx_dir(fashion, "test", None).images[:64].permute(0, 2, 3, 1).numpy()
        out["fashion 28x28 grey, one"] = data[0]
        out["fashion 28x28 grey, 8x8 grid"] = imaging.grid(data, columns=8)
    bars = synthetic(64, 64, 3, count=64).images.permute(0, 2, 3, 1).numpy()
    out["bars 64x64 RGB, one"] = bars[0]
    out["bars 64x64 RGB, 8x8 grid"] = imaging.grid(bars, columns=8)
    return out


def timed_ms(fn, seconds: float) -> float:
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion-mnist", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--seconds", type=float, default=0.3, help="per picture and level")
    args = parser.parse_args(argv)
    print("| picture | " + " | ".join(f"level {lv}" for lv in LEVELS) + " |")
    print("|---|" + "---|" * len(LEVELS))
    for name, picture in pictures(args.fashion_mnist).items():
        cells = []
        for level in LEVELS:
            size = len(imaging.encode_png(picture, level))
            ms = timed_ms(lambda: imaging.encode_png(picture, level), args.seconds)
            cells.append(f"{ms:.3f} ms, {size} B")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

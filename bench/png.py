"""PNG encoding: milliseconds and bytes per zlib level, for one image and for a grid, on real pictures.

    python -m bench.png

Pictures: Fashion-MNIST test images (28x28 grey; the shipped default's kind of output) and the synthetic bar
images upscaled to 64x64 RGB, each alone and as an 8x8 grid assembled by models/images.py. Medians of
repeated timings; the level models/images.py uses is chosen from the first table. The second sets the
project's encoder beside Pillow's (adaptive row filters) at that level, timed in turns. The third compares the
two compressors on each picture's filtered rows: libdeflate (holds Python's lock) and zlib (lets go of it);
models/images.py uses libdeflate up to SMALL_IMAGE_BYTES.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zlib
from pathlib import Path

import deflate
import numpy as np
from PIL import Image

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


def pillow_png(picture: np.ndarray, level: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture[:, :, 0] if picture.shape[2] == 1 else picture).save(buffer, format="PNG",
                                                                                 compress_level=level)
    return buffer.getvalue()


def in_turns(ours, theirs, seconds: float, rounds: int) -> tuple[float, float]:
    """Median ms of two encoders timed in turns, so that drifts of the machine weigh on both."""
    ours_ms, theirs_ms = [], []
    for _ in range(rounds):
        ours_ms.append(timed_ms(ours, seconds))
        theirs_ms.append(timed_ms(theirs, seconds))
    return statistics.median(ours_ms), statistics.median(theirs_ms)


def comparison_row(name: str, ours, theirs, seconds: float, rounds: int, *extra: str) -> str:
    """A table row: each side's median time and bytes, then how much faster and how large ours is."""
    ours_ms, theirs_ms = in_turns(ours, theirs, seconds, rounds)
    ours_b, theirs_b = len(ours()), len(theirs())
    cells = [name, *extra, f"{ours_ms:.3f} ms, {ours_b} B", f"{theirs_ms:.3f} ms, {theirs_b} B",
             f"{theirs_ms / ours_ms:.2f}x faster", f"{ours_b / theirs_b:.3f}"]
    return "| " + " | ".join(cells) + " |"


def side_by_side(pictures_by_name: dict[str, np.ndarray], seconds: float, rounds: int = 3) -> None:
    level = imaging.PNG_LEVEL
    print(f"\n| picture (level {level}) | models/images.py | Pillow | time ratio | size ratio |")
    print("|---|---|---|---|---|")
    for name, picture in pictures_by_name.items():
        print(comparison_row(name, lambda: imaging.encode_png(picture, level), lambda: pillow_png(picture, level),
                             seconds, rounds), flush=True)


def compressors(pictures_by_name: dict[str, np.ndarray], seconds: float, rounds: int = 3) -> None:
    level = imaging.PNG_LEVEL
    print(f"\n| filtered rows (level {level}) | bytes | libdeflate | zlib | time ratio | size ratio | used |")
    print("|---|---|---|---|---|---|---|")
    for name, picture in pictures_by_name.items():
        rows = imaging.filtered_rows(picture)
        used = "libdeflate" if rows.nbytes <= imaging.SMALL_IMAGE_BYTES else "zlib"
        row = comparison_row(name, lambda: deflate.zlib_compress(rows, level), lambda: zlib.compress(rows, level),
                             seconds, rounds, str(rows.nbytes))
        print(f"{row} {used} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion-mnist", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--seconds", type=float, default=0.3, help="per picture and level")
    args = parser.parse_args(argv)
    print("| picture | " + " | ".join(f"level {lv}" for lv in LEVELS) + " |")
    print("|---|" + "---|" * len(LEVELS))
    by_name = pictures(args.fashion_mnist)
    for name, picture in by_name.items():
        cells = []
        for level in LEVELS:
            size = len(imaging.encode_png(picture, level))
            ms = timed_ms(lambda: imaging.encode_png(picture, level), args.seconds)
            cells.append(f"{ms:.3f} ms, {size} B")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    side_by_side(by_name, args.seconds)
    compressors(by_name, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

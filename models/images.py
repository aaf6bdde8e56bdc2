"""Generator outputs to pixels and files: uint8 conversion, numpy grids, PNG, GIF and WebP encoding."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

# Level 1 encodes grids about 4x faster than Pillow's default 6 at nearly the same size (docs/benchmarks.md).
PNG_LEVEL = 1


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] -> (N, H, W, C) uint8."""
    assert images.ndim == 4, f"expected (N, C, H, W), got {tuple(images.shape)}"
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile (N, H, W, C) uint8 images into one (H', W', C) array, row-major, with a dark gutter."""
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    # every cell carries its gutter above and to the left; one reshape lays the cells out
    cells = np.zeros((rows * columns, h + padding, w + padding, c), dtype=np.uint8)
    cells[:n, padding:, padding:] = images
    tiled = cells.reshape(rows, columns, h + padding, w + padding, c).transpose(0, 2, 1, 3, 4)
    tiled = tiled.reshape(rows * (h + padding), columns * (w + padding), c)
    # (rows*(h+p), cols*(w+p), C) -> add the gutter below and to the right
    return np.pad(tiled, ((0, padding), (0, padding), (0, 0)))


def _pil(image: np.ndarray) -> Image.Image:
    if image.shape[2] == 1:
        return Image.fromarray(image[:, :, 0], mode="L")
    return Image.fromarray(image, mode="RGB")


def encode_png(image: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """(H, W, C) uint8 -> PNG bytes."""
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def encode_animation(frames: np.ndarray, fmt: str, frame_ms: int = 120, scale: int = 1) -> bytes:
    """(N, H, W, C) uint8 frames -> a looping GIF or WebP, each frame enlarged `scale` times."""
    pictures = [_pil(f) for f in frames]
    if scale > 1:
        pictures = [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pictures]
    if fmt == "gif":
        pictures = [p.convert("P") if p.mode == "RGB" else p for p in pictures]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format=fmt.upper(), save_all=True, append_images=pictures[1:],
                     duration=frame_ms, loop=0, **({"lossless": True} if fmt == "webp" else {}))
    return buffer.getvalue()

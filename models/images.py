"""Generator outputs to pixels and files: uint8 conversion, numpy grids, PNG, GIF and WebP encoding."""

from __future__ import annotations

import io
import math
import struct
import zlib

import deflate
import numpy as np
import torch
from PIL import Image

# Level 1: on Fashion-MNIST grids 2.2x faster than level 6 at 4% more bytes (docs/benchmarks.md, PNG level).
PNG_LEVEL = 1
# Up to this many bytes of filtered rows (a 64x64 RGB image is 12.4 KB) the pixels are compressed by
# libdeflate, which holds Python's lock for the whole call, about as fast as zlib on one small image and 13%
# smaller on 64x64 RGB (bench/png.py). zlib lets go of the lock for every call, and under load the inference
# thread then waits for the busy event loop to hand it back, once per image: libdeflate served the shipped
# model 2-7% faster (docs/benchmarks.md). Larger pictures (grids) go through zlib, so the loop runs meanwhile.
SMALL_IMAGE_BYTES = 32 * 1024
# Part of a seed URL's strong ETag: change it whenever the bytes written for the same pixels change (the
# compressor, its level, the row filters), so that a cache never holds two different bodies under one tag.
PNG_ENCODING = "png-3"  # 1: zlib for every size; 2: no text chunks


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] -> (N, H, W, C) uint8."""
    assert images.ndim == 4, f"expected (N, C, H, W), got {tuple(images.shape)}"
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in [-1, 1]: the networks' view of pixels, as training sees them."""
    return images.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


MODES = {"L": 1, "RGB": 3}  # PNG colour modes a model's images come in, by channels


def decode_png(data: bytes, height: int, width: int, channels: int) -> np.ndarray:
    """An uploaded PNG as (height, width, channels) uint8, or ValueError saying what is wrong with it. The size
    is checked from the header, before any pixel is decompressed, so a huge image costs nothing."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file: send the image as PNG")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.size != (width, height):
                raise ValueError(f"the image is {image.size[0]}x{image.size[1]}; this model takes {width}x{height}")
            if MODES.get(image.mode) != channels:
                wanted = "greyscale (mode L)" if channels == 1 else "RGB without alpha"
                raise ValueError(f"the image is a {image.mode} PNG; this model takes {channels}-channel images: "
                                 f"save it as {wanted}")
            pixels = np.asarray(image.convert(image.mode), dtype=np.uint8)
    except (OSError, SyntaxError, Image.DecompressionBombError):  # Pillow's errors for a damaged file
        raise ValueError("the PNG cannot be read: the file is damaged or cut short") from None
    return pixels.reshape(height, width, channels)


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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type: greyscale, RGB
FILTER_NONE, FILTER_UP = 0, 2


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


PNG_END = png_chunk(b"IEND", b"")


def encode_png(image: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """(H, W, C) uint8, C 1 or 3 -> PNG bytes (8 bits per channel, not interlaced).

    Written here rather than through Pillow, whose per-image work around zlib (an Image object, the plugin's
    chunk writer, adaptive row filters) took twice the time of the whole encoding below on a 28x28 image,
    all of it holding Python's lock, which the event loop needs. Rows are filtered as a whole array: none for
    grey (Fashion-MNIST compressed best unfiltered), "up" for colour (within 1% of Pillow's size on one
    image, 9% over it on a grid, at half the time; bench/png.py), then compressed by `compress`."""
    rows = filtered_rows(image)  # checks the pixels first
    height, width, channels = image.shape
    header = struct.pack(">IIBBBBB", width, height, 8, PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join((PNG_SIGNATURE, png_chunk(b"IHDR", header), png_chunk(b"IDAT", compress(rows, level)),
                     PNG_END))


def filtered_rows(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 pixels -> the (H, 1 + W*C) bytes a PNG compresses: each row its filter type, its bytes."""
    height, width, channels = image.shape
    if channels not in PNG_COLOUR_TYPES or image.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 1 or 3) uint8 pixels, got {image.shape} {image.dtype}")
    pixels = image.reshape(height, width * channels)
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)  # each row: its filter byte, its bytes
    if channels == 1:
        rows[:, 0] = FILTER_NONE
        rows[:, 1:] = pixels
    else:  # each byte minus the one above it, modulo 256
        rows[:, 0] = FILTER_UP
        rows[0, 1:] = pixels[0]
        np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])
    return rows


def compress(data: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """A zlib stream (RFC 1950) of `data` at `level` (0-9): libdeflate for small data, zlib for large."""
    if not 0 <= level <= 9:
        raise ValueError(f"compression level must be 0-9, got {level}")
    if data.nbytes <= SMALL_IMAGE_BYTES:
        return bytes(deflate.zlib_compress(data, level))
    return zlib.compress(data, level)


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

"""What a job's images become: one PNG (the image, or a grid of several), a PNG each, or an animation."""

from __future__ import annotations

import base64

import numpy as np

from models import images as imaging

OUTPUTS = ("png", "pngs", "gif", "webp")
MEDIA = {"png": "image/png", "gif": "image/gif", "webp": "image/webp"}
ANIMATION_SIDE = 128  # frames of small models are enlarged towards this side: 28 pixels are unreadable


def encode(images: np.ndarray, output: str, columns: int | None = None) -> list[bytes]:
    """(N, H, W, C) uint8 -> the job's answer as byte strings: one, or one per image for `pngs`."""
    if output == "pngs":
        return [imaging.encode_png(image) for image in images]
    if output == "png":
        return [imaging.encode_png(images[0] if len(images) == 1 else imaging.grid(images, columns=columns))]
    if output in ("gif", "webp"):
        scale = max(1, ANIMATION_SIDE // max(images.shape[1:3]))
        return [imaging.encode_animation(images, output, scale=scale)]
    raise ValueError(f"unknown output {output!r}; valid: {', '.join(OUTPUTS)}")


def base64_pngs(parts: list[bytes]) -> list[str]:
    """PNGs as the strings of a JSON answer."""
    return [base64.b64encode(part).decode() for part in parts]

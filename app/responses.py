"""Image answers: PNG, animations and JSON, each naming the model and version that made them."""

from __future__ import annotations

import numpy as np
from fastapi.responses import Response

from app.pool import LoadedModel
from models import images as imaging

MEDIA = {"png": "image/png", "gif": "image/gif", "webp": "image/webp"}


def model_headers(loaded: LoadedModel) -> dict[str, str]:
    return {"X-Model": loaded.name, "X-Model-Version": loaded.version}


def png_response(loaded: LoadedModel, images: np.ndarray, columns: int | None = None,
                 extra_headers: dict[str, str] | None = None) -> Response:
    """One image as itself, several as a grid."""
    picture = images[0] if len(images) == 1 else imaging.grid(images, columns=columns)
    return Response(imaging.encode_png(picture), media_type="image/png",
                    headers=model_headers(loaded) | (extra_headers or {}))


def animation_response(loaded: LoadedModel, frames: np.ndarray, fmt: str) -> Response:
    scale = max(1, 128 // max(frames.shape[1:3]))  # small models are unreadable at their own size
    return Response(imaging.encode_animation(frames, fmt, scale=scale), media_type=MEDIA[fmt],
                    headers=model_headers(loaded))

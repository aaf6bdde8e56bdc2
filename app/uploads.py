"""Images sent to the API: PNG uploads (multipart) or base64 PNGs in JSON, checked against a version.

A request's other fields come as form fields beside the files, or as the JSON body's; either way they are
validated by the route's schema, so a wrong field gets the same 422 in both forms.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar, get_origin

import numpy as np
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from app.errors import InvalidRequest
from models import images as imaging

Body = TypeVar("Body", bound=BaseModel)


def _invalid(error: ValidationError) -> InvalidRequest:
    first = error.errors()[0]
    return InvalidRequest(".".join(map(str, first["loc"])) or "body", first["msg"])


async def read_upload(request: Request, schema: type[Body], files_field: str, max_files: int,
                      lists: tuple[str, ...] = ()) -> tuple[Body, list[bytes]]:
    """The request's fields as `schema` and its images' PNG bytes. Multipart: the files under `files_field`,
    the fields in `lists` taken as repeated form fields. JSON: `files_field` holds base64 (one or a list)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=max_files, max_fields=64) as form:
            files = form.getlist(files_field)
            if not files or not all(isinstance(f, UploadFile) for f in files):
                raise InvalidRequest(files_field, f"upload PNG files in the form field `{files_field}`")
            pngs = [await f.read() for f in files]
            fields = {key: [_number_or_text(v) for v in form.getlist(key)] if key in lists else form.get(key)
                      for key in set(form.keys()) - {files_field}}
        # the files are read above; the schema sees an empty stand-in for them
        stand_in = [] if get_origin(schema.model_fields[files_field].annotation) is list else ""
        try:
            return schema.model_validate({**fields, files_field: stand_in}), pngs
        except ValidationError as e:
            raise _invalid(e) from None
    try:
        body = schema.model_validate_json(await request.body())
    except ValidationError as e:
        raise _invalid(e) from None
    sent = getattr(body, files_field)
    texts = sent if isinstance(sent, list) else [sent]
    pngs = []
    for i, text in enumerate(texts):
        try:
            pngs.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            field = f"{files_field}.{i}" if isinstance(sent, list) else files_field
            raise InvalidRequest(field, "not base64: send each PNG file base64-encoded") from None
    return body, pngs


def _number_or_text(value) -> int | str:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value


def checked_images(pngs: list[bytes], version, field: str, max_images: int) -> np.ndarray:
    """(N, H, W, C) uint8 pixels of PNGs of the version's size and channels; 422 naming the image otherwise."""
    if not pngs:
        raise InvalidRequest(field, "send at least one image")
    if len(pngs) > max_images:
        raise InvalidRequest(field, f"{len(pngs)} images; send at most {max_images} per request")
    shape = version.metadata["image"]
    pixels = []
    for i, png in enumerate(pngs):
        try:
            pixels.append(imaging.decode_png(png, shape["height"], shape["width"], shape["channels"]))
        except ValueError as e:
            raise InvalidRequest(f"{field}.{i}" if max_images > 1 else field, str(e)) from None
    return np.stack(pixels)

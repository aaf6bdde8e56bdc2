"""Text written into encoded images is read back by Pillow, leaves the pixels alone and keeps the files valid."""

import io
import json

import numpy as np
from PIL import Image

from models import image_text
from models.images import encode_animation, encode_png

PIXELS = np.random.default_rng(0).integers(0, 256, (3, 12, 10, 3), dtype=np.uint8)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # checks every chunk's CRC on the way
    return image


def test_png_text_chunks_are_read_back_and_the_pixels_are_unchanged():
    png = image_text.png_with_text(encode_png(PIXELS[0]), {"model": "m", "seeds": "1,2"})
    image = _open(png)
    assert image.text == {"model": "m", "seeds": "1,2"}
    assert np.array_equal(np.asarray(image), PIXELS[0])


def test_text_beyond_latin_1_goes_into_an_international_chunk():
    png = image_text.png_with_text(encode_png(PIXELS[0]), {"labels": '"T-shirt","Käse ☕"'})
    assert b"iTXt" in png and _open(png).text["labels"] == '"T-shirt","Käse ☕"'


def test_a_gif_carries_the_facts_as_a_json_comment_and_still_animates():
    gif = image_text.with_text(encode_animation(PIXELS, "gif"), "image/gif", {"model": "m", "version": "000002"})
    image = _open(gif)
    assert json.loads(image.info["comment"]) == {"model": "m", "version": "000002"}
    assert image.n_frames == 3 and image.info["loop"] == 0


def test_a_long_gif_comment_spans_several_sub_blocks():
    text = {"seeds": ",".join(str(n) for n in range(200))}
    assert json.loads(_open(image_text.with_text(encode_animation(PIXELS, "gif"), "image/gif", text))
                      .info["comment"]) == text


def test_a_webp_carries_the_facts_as_xmp_and_still_animates():
    webp = image_text.with_text(encode_animation(PIXELS, "webp"), "image/webp", {"weights_sha256": "ab" * 32})
    image = _open(webp)
    assert f'gan:weights_sha256="{"ab" * 32}"' in image.info["xmp"].decode()
    assert image.n_frames == 3
    image.seek(2)
    assert np.array_equal(np.asarray(image.convert("RGB")), PIXELS[2])

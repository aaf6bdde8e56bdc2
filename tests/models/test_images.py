import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from models import images as imaging


def decoded(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as picture:
        picture.load()
        pixels = np.asarray(picture)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def chunks(png: bytes) -> list[tuple[bytes, bytes, int]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        out.append((kind, data, crc))
        at += 12 + length
    return out


@pytest.mark.parametrize("shape", [(28, 28, 1), (64, 64, 3), (1, 1, 1), (1, 5, 3), (7, 3, 3), (5, 9, 1)])
def test_pngs_decode_to_the_same_pixels(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    back = decoded(imaging.encode_png(pixels))
    assert back.shape == shape and np.array_equal(back, pixels)


def test_images_sliced_from_a_batch_in_any_layout_encode_as_themselves():
    batch = np.random.default_rng(1).integers(0, 256, (4, 3, 16, 12), dtype=np.uint8).transpose(0, 2, 3, 1)
    assert not batch[2].flags.c_contiguous
    assert np.array_equal(decoded(imaging.encode_png(batch[2])), batch[2])


def test_every_chunk_is_well_formed_and_checksummed():
    png = imaging.encode_png(np.full((6, 4, 3), 200, dtype=np.uint8))
    found = chunks(png)
    assert [kind for kind, _, _ in found] == [b"IHDR", b"IDAT", b"IEND"]
    for kind, data, crc in found:
        assert crc == zlib.crc32(kind + data)
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", found[0][1])
    assert (width, height, depth, colour) == (4, 6, 8, 2)


def test_the_level_trades_size_for_time_and_every_level_decodes():
    smooth = np.tile(np.arange(64, dtype=np.uint8), (64, 1))[:, :, None]
    sizes = {level: len(imaging.encode_png(smooth, level)) for level in (0, 1, 9)}
    assert sizes[0] > sizes[1] >= sizes[9]
    for level in (0, 9):
        assert np.array_equal(decoded(imaging.encode_png(smooth, level)), smooth)


@pytest.mark.parametrize("shape", [(28, 28, 1), (64, 64, 3), (200, 200, 1), (128, 128, 3)])
def test_small_and_large_pictures_both_decode(shape):
    """Either side of the size where compression moves from libdeflate to zlib."""
    rng = np.random.default_rng(2)
    pixels = np.repeat(rng.integers(0, 256, (shape[0], 1, shape[2]), dtype=np.uint8), shape[1], axis=1)
    pixels[::7, ::5] = rng.integers(0, 256, pixels[::7, ::5].shape, dtype=np.uint8)
    small = imaging.filtered_rows(pixels).nbytes <= imaging.SMALL_IMAGE_BYTES
    assert small == (shape in ((28, 28, 1), (64, 64, 3)))
    png = imaging.encode_png(pixels)
    assert np.array_equal(decoded(png), pixels)
    assert len(png) < pixels.nbytes / 2  # compressed, not stored


@pytest.mark.parametrize("size", [0, 1, 100, imaging.SMALL_IMAGE_BYTES, imaging.SMALL_IMAGE_BYTES + 1, 10**5])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_compress_writes_zlib_streams_at_every_size_and_level(size, level):
    data = np.random.default_rng(size).integers(0, 4, size, dtype=np.uint8)
    stream = imaging.compress(data, level)
    assert isinstance(stream, bytes) and zlib.decompress(stream) == data.tobytes()


@pytest.mark.parametrize("level", [-1, 10])
def test_compress_refuses_levels_zlib_does_not_have(level):
    with pytest.raises(ValueError, match="0-9"):
        imaging.compress(np.zeros(10, np.uint8), level)


@pytest.mark.parametrize("pixels", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 4), np.uint8),
                                    np.zeros((4, 4, 3), np.float32)])
def test_pixels_it_cannot_write_are_refused(pixels):
    with pytest.raises(ValueError, match="uint8"):
        imaging.encode_png(pixels)

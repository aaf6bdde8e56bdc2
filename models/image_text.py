"""Text facts written into already-encoded images: PNG text chunks, a GIF comment, WebP XMP.

The images are encoded first (the inference process, the seed-URL cache) and the facts added afterwards by
splicing a few bytes in, which costs microseconds and no re-encoding. Each format gets what its readers show:
PNG a `tEXt` chunk per key (`iTXt` when the text is not Latin-1), GIF one comment of the facts as JSON, WebP an
XMP packet with one attribute per key.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from xml.sax.saxutils import quoteattr

from models.images import PNG_SIGNATURE, png_chunk

PNG_IHDR_END = len(PNG_SIGNATURE) + 8 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of header, CRC
XMP_NAMESPACE = "urn:gan-service:provenance:1"  # a name, never fetched


def png_with_text(png: bytes, text: dict[str, str]) -> bytes:
    """`png` with a text chunk per key, right after IHDR, where every reader looks for them first."""
    if png[: len(PNG_SIGNATURE)] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG that starts with its IHDR chunk")
    chunks = b"".join(_text_chunk(key, value) for key, value in text.items())
    return png[:PNG_IHDR_END] + chunks + png[PNG_IHDR_END:]


@lru_cache(maxsize=4096)  # most facts repeat from image to image (model, version, weights): built once
def _text_chunk(key: str, value: str) -> bytes:
    keyword = key.encode("latin-1")
    if not 1 <= len(keyword) <= 79:
        raise ValueError(f"a PNG text keyword takes 1-79 characters, not {key!r}")
    try:
        return png_chunk(b"tEXt", keyword + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:  # iTXt: uncompressed, no language tag, no translated keyword, UTF-8 text
        return png_chunk(b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8"))


def gif_with_comment(gif: bytes, comment: str) -> bytes:
    """`gif` with a comment extension ahead of its first frame (after the global colour table)."""
    if gif[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("not a GIF")
    packed = gif[10]
    colour_table = 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0
    start = 13 + colour_table  # header (6) and logical screen descriptor (7), then the table
    data = comment.encode("utf-8")
    # the comment's bytes in sub-blocks of at most 255, each led by its length, ended by an empty one
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    return gif[:start] + b"\x21\xfe" + blocks + b"\x00" + gif[start:]


def webp_with_xmp(webp: bytes, text: dict[str, str]) -> bytes:
    """An extended (VP8X) WebP, as animations are, with an XMP chunk of `text` at its end, where the format
    puts metadata, and the VP8X flag that announces it."""
    if webp[:4] != b"RIFF" or webp[8:12] != b"WEBP" or webp[12:16] != b"VP8X":
        raise ValueError("not an extended (VP8X) WebP")
    attributes = " ".join(f"gan:{key}={quoteattr(value)}" for key, value in text.items())
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f'<rdf:Description rdf:about="" xmlns:gan="{XMP_NAMESPACE}" {attributes}/></rdf:RDF></x:xmpmeta>'
           ).encode("utf-8")
    chunk = b"XMP " + struct.pack("<I", len(xmp)) + xmp + b"\0" * (len(xmp) % 2)  # chunks are padded to even
    flags = webp[20] | 0x04  # VP8X's payload starts at 20; bit 2 says an XMP chunk is present
    body = webp[12:20] + bytes([flags]) + webp[21:] + chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def with_text(data: bytes, media_type: str, text: dict[str, str]) -> bytes:
    """Encoded image bytes of `media_type` with `text` written in as the format allows."""
    if media_type == "image/png":
        return png_with_text(data, text)
    if media_type == "image/gif":
        return gif_with_comment(data, json.dumps(text, ensure_ascii=False))
    if media_type == "image/webp":
        return webp_with_xmp(data, text)
    raise ValueError(f"no text can be written into {media_type!r}")

"""How many pixels an upload may make us decode: the one rule for every image, read
from the header before any pixel is decoded (imported by the decoding child too, so it
imports nothing)."""

from typing import TypedDict

FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# The largest upload of any kind (an image for a post; a profile picture is allowed
# less): 413 while the body streams in, before decoding; the decoding child reads no more.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Pixels a decode may hold at once. PNG, WebP and GIF decode at their full size, as
# does a progressive JPEG (libjpeg keeps every DCT coefficient of the full image, and
# walks them all once per scan): 25 MP is a 6,000 x 4,000 photo, a 6K screenshot is 20.
MAX_DECODED_PIXELS = 25_000_000
# A baseline JPEG is decoded straight at 1/2, 1/4 or 1/8 scale (draft()), so what it
# holds is the scaled size; its header may claim this much (a 12,000 x 8,000 photo is 96).
MAX_JPEG_PIXELS = 100_000_000
# libjpeg walks every block of the image once per scan, even a scan of no data: a
# 14 KB file of 1,400 empty scans is seconds of CPU. An encoder writes 1 to ~10 (at
# most a few dozen); libjpeg-turbo suggests 500 as the limit for untrusted input
# (TJPARAM_SCANLIMIT), about a second at 25 megapixels.
MAX_JPEG_SCANS = 500
SOS = b"\xff\xda"


class Header(TypedDict):
    """What an image's header says, as the rules below take it."""

    image_format: str
    size: tuple[int, int]
    scaled: tuple[int, int]  # what a JPEG decodes at once draft() chose its scale
    progressive: bool


def decoded_pixels(
    *, image_format: str, size: tuple[int, int], scaled: tuple[int, int], progressive: bool
) -> int:
    """The pixels decoding will hold: the scaled size only for a baseline JPEG."""
    width, height = scaled if image_format == "JPEG" and not progressive else size
    return width * height


def too_many_pixels(
    *, image_format: str, size: tuple[int, int], scaled: tuple[int, int], progressive: bool
) -> str | None:
    """Why an image of this header may not be decoded, or None if it may."""
    width, height = size
    declared = width * height
    held = decoded_pixels(
        image_format=image_format, size=size, scaled=scaled, progressive=progressive
    )
    if declared <= MAX_JPEG_PIXELS and held <= MAX_DECODED_PIXELS:
        return None
    return (
        f"The picture has too many pixels: {width} x {height} "
        f"({declared / 1e6:.1f} megapixels); at most {MAX_DECODED_PIXELS // 10**6} megapixels "
        f"for PNG, WebP, GIF and progressive JPEG, {MAX_JPEG_PIXELS // 10**6} for other JPEGs"
    )


def too_many_scans(upload: bytes) -> str | None:
    """Why a JPEG has too many scans to decode, or None. Every start-of-scan marker in
    the file counts, one inside an EXIF thumbnail too: that can only count a few too
    many, never too few (in compressed data a 0xFF byte is always followed by 0x00)."""
    scans = upload.count(SOS)
    if scans <= MAX_JPEG_SCANS:
        return None
    return (
        f"The picture is a JPEG of {scans} scans; at most {MAX_JPEG_SCANS} are decoded "
        "(an encoder writes about ten)"
    )

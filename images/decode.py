"""The decoding child: `python -m images.decode <memory MiB> <cpu seconds> <side> <shape>`,
the upload on stdin, a clean WebP on stdout. It limits itself before it reads a byte of
the upload (address space, CPU time, a low priority), refuses from the header what has
too many pixels (or a JPEG too many scans), then decodes, turns upright, crops or fits,
and writes a WebP carrying
pixels and nothing else.

A refusal is exit status REFUSED with `{"code": ..., "detail": ...}` on stdout. Running
out of memory is TOO_COMPLEX; running out of CPU time is SIGXCPU, and the parent kills
it at its wall deadline: those two are the parent's to name.
"""

import io
import json
import os
import resource
import sys

from images.limits import (
    FORMATS,
    MAX_UPLOAD_BYTES,
    Header,
    decoded_pixels,
    too_many_pixels,
    too_many_scans,
)

REFUSED = 3
TOO_COMPLEX = 4
# Below the event loop's priority: a decode only gets the CPU the server leaves over.
NICENESS = 10
WEBP_QUALITY = 85
# What decoding holds per pixel, at most: RGBA; a progressive JPEG's DCT coefficients
# take 2 bytes per sample.
BYTES_PER_PIXEL = 4
SHAPES = ("square", "fit")


class Refused(ValueError):
    """Why an upload is not decoded: a stable code and a sentence for the person."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


NOT_A_PICTURE = "The file is not a JPEG, PNG, WebP or GIF picture"


def reencode(upload: bytes, *, side: int, shape: str) -> bytes:
    """The upload as a WebP: `square` crops a centred square of at most `side` px,
    `fit` keeps the proportions within `side` x `side`. Raises Refused or MemoryError."""
    # Imported here, once the limits hold. Each plugin by name: Image.open(formats=)
    # would otherwise import all forty of Pillow's on the first WebP.
    from PIL import (  # noqa: F401
        GifImagePlugin,
        Image,
        JpegImagePlugin,
        PngImagePlugin,
        UnidentifiedImageError,
        WebPImagePlugin,
    )

    upright = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    Image.MAX_IMAGE_PIXELS = None  # ours is the rule (images.limits), checked below
    try:
        image = Image.open(io.BytesIO(upload), formats=FORMATS)
        image.seek(0)  # a GIF's or an APNG's first frame
        size = image.size
        # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale directly: ask for the smallest
        # that still covers `side` (a 12 MP photo decodes 1/4 the work).
        image.draft("RGB", (side, side))
        header: Header = {
            "image_format": image.format or "",
            "size": size,
            "scaled": image.size,
            "progressive": bool(image.info.get("progressive")),
        }
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, OSError):
        raise Refused("not_a_picture", NOT_A_PICTURE) from None
    if problem := too_many_pixels(**header):
        raise Refused("too_many_pixels", problem)
    if header["image_format"] == "JPEG" and (problem := too_many_scans(upload)):
        raise Refused("image_too_complex", problem)
    try:
        image.load()
        orientation = image.getexif().get(0x0112)
    except (SyntaxError, ValueError, EOFError, OSError):
        # A decoder denied memory says only that it failed (libjpeg: "broken data
        # stream"): if what it needed cannot be had now, that was why.
        if not _room_for(decoded_pixels(**header) * BYTES_PER_PIXEL):
            raise MemoryError from None
        raise Refused("not_a_picture", NOT_A_PICTURE) from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    picture = image.convert("RGBA" if has_alpha else "RGB")
    del image  # each step drops the one before: the peak is two copies, not four
    if shape == "square":
        # The centred square is the same whichever way the picture is turned: crop and
        # scale first, turn the small result upright after.
        crop = min(picture.size)
        left, top = (picture.width - crop) // 2, (picture.height - crop) // 2
        picture = picture.crop((left, top, left + crop, top + crop))
        if crop > side:
            picture = picture.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    else:
        picture.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if isinstance(orientation, int) and (
        turn := upright.get(orientation)
    ):  # as EXIF says (ImageOps.exif_transpose's table)
        picture = picture.transpose(turn)
    out = io.BytesIO()
    # No exif=, icc_profile= or xmp=: the new file carries pixels and nothing else.
    picture.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def _room_for(size: int) -> bool:
    """Whether `size` more bytes of address space can be had (calloc: no page touched)."""
    try:
        bytearray(size)
    except MemoryError:
        return False
    return True


def limit_self(*, memory_mb: int, cpu_seconds: int) -> None:
    """Bounds this process sets on itself before it reads the upload."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20,) * 2)
    # A backstop for the parent's wall deadline: SIGXCPU, then SIGKILL a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(NICENESS)


def main() -> int:
    memory_mb, cpu_seconds, side, shape = sys.argv[1:]
    if shape not in SHAPES:
        raise SystemExit(f"shape must be one of {SHAPES}")
    limit_self(memory_mb=int(memory_mb), cpu_seconds=int(cpu_seconds))
    upload = sys.stdin.buffer.read(MAX_UPLOAD_BYTES + 1)
    try:
        if len(upload) > MAX_UPLOAD_BYTES:
            raise Refused("too_large", f"The picture is larger than {MAX_UPLOAD_BYTES} bytes")
        webp = reencode(upload, side=int(side), shape=shape)
    except Refused as refused:
        sys.stdout.write(json.dumps({"code": refused.code, "detail": refused.detail}))
        return REFUSED
    except MemoryError:
        return TOO_COMPLEX
    sys.stdout.buffer.write(webp)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Profile pictures: an uploaded file is hostile until it has been decoded and
re-encoded. Pillow decodes it (JPEG, PNG, WebP, or a GIF's first frame, nothing
else), refuses huge pixel counts from the header before any pixel is decoded, turns
it upright from its EXIF orientation, crops a centred square, scales it to at most
MAX_SIDE, and writes a fresh WebP with no metadata at all. Only that is ever stored
or served. Callers run `reencode` in a worker thread: it is CPU work.
"""

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# Uploads larger than this are refused while they are read (413), before decoding.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_SIDE = 512
# More pixels than this (a 12,000 x 8,000 photo has 96 M) is refused from the header.
MAX_PIXELS = 100_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
WEBP_QUALITY = 85
# Pillow's own guard, raised to ours: it raises on twice this many pixels on open.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class PictureError(ValueError):
    """Why an upload is not a picture we accept (said to the person as is)."""


@dataclass(frozen=True)
class Picture:
    data: bytes  # WebP
    name: str  # content-addressed: "<sha256>.webp"


def reencode(upload: bytes) -> Picture:
    """The upload as a clean square WebP, or PictureError."""
    try:
        with Image.open(io.BytesIO(upload), formats=FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PictureError("The picture has too many pixels")
            image.seek(0)  # a GIF's first frame
            # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale directly: ask for the
            # smallest that still covers MAX_SIDE (a 12 MP photo decodes 1/4 the work).
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            upright = ImageOps.exif_transpose(image)
            upright.load()
    except PictureError:
        raise
    except Image.DecompressionBombError:
        raise PictureError("The picture has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise PictureError("The file is not a JPEG, PNG, WebP or GIF picture") from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    picture = upright.convert("RGBA" if has_alpha else "RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    if side > MAX_SIDE:
        picture = picture.resize((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=, icc_profile= or xmp=: the new file carries pixels and nothing else.
    picture.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    data = out.getvalue()
    return Picture(data, f"{hashlib.sha256(data).hexdigest()}.webp")

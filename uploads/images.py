"""Images with Pillow: checked before decoding (a decompression bomb is refused, not decoded),
stored without their EXIF/XMP metadata (GPS position included), thumbnailed."""

import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import BadRequest

from .errors import ImageTooLarge

THUMBNAIL_SIZE = (480, 480)
_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes | None  # the original to store instead of the upload's bytes; None: keep them
    width: int
    height: int
    thumbnail: bytes
    thumbnail_type: str


def _refuse_bomb(width: int, height: int) -> None:
    limit = settings.PARLEY_UPLOAD_MAX_IMAGE_PIXELS
    if width * height > limit:
        raise ImageTooLarge(
            f"The image has {width * height} pixels; at most {limit} are accepted.", field="file"
        )


def image_process(stream: IO[bytes]) -> ProcessedImage:
    """Reads an uploaded image; BadRequest when it is not a readable image, ImageTooLarge when
    it has too many pixels. Animated GIFs are kept byte for byte (GIF carries no EXIF)."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check is a warning up to twice its limit: make it refuse too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _process(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLarge(str(error), field="file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadRequest(f"The image could not be read: {error}", field="file") from None


def _process(stream: IO[bytes]) -> ProcessedImage:
    stream.seek(0)
    with Image.open(stream) as image:
        if image.format not in _FORMATS:
            raise BadRequest("Unsupported image format.", field="file")
        # The header alone gives the size: refuse before decoding a single pixel.
        _refuse_bomb(*image.size)
        animated = getattr(image, "n_frames", 1) > 1
        # A GIF is kept as uploaded: animation works, and GIF has no EXIF block.
        data = None if image.format == "GIF" else _without_metadata(image, animated=animated)
        frame = ImageOps.exif_transpose(image.copy() if not animated else _first_frame(image))
    width, height = frame.size
    return ProcessedImage(data, width, height, *_thumbnail(frame))


def _first_frame(image: Image.Image) -> Image.Image:
    image.seek(0)
    return image.copy()


def _without_metadata(image: Image.Image, *, animated: bool) -> bytes:
    """The image re-encoded with no EXIF, XMP or text chunks: only pixels (and the ICC profile,
    which carries no personal data and keeps colours right). Orientation is applied first."""
    out = io.BytesIO()
    image_format = image.format
    icc = image.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if animated:
        image.save(out, format=image_format, save_all=True, **extra)
        return out.getvalue()
    upright = ImageOps.exif_transpose(image)
    upright.load()
    if image_format == "JPEG":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.save(out, format="JPEG", quality=92, **extra)
    else:
        upright.save(out, format=image_format, **extra)
    return out.getvalue()


def _thumbnail(frame: Image.Image) -> tuple[bytes, str]:
    frame.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    if frame.mode in ("RGBA", "LA", "P") and (frame.mode != "P" or "transparency" in frame.info):
        frame.convert("RGBA").save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png"
    frame.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue(), "image/jpeg"

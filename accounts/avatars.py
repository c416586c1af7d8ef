"""Avatar images: any upload Pillow can open becomes two square WebP files, 256 and 64 px,
re-encoded from pixels only, so EXIF (GPS position, camera serial) and every other piece of
metadata is dropped."""

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import BadRequest

LARGE = 256
SMALL = 64
# An upload larger than this is refused before Pillow sees it.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Decompression bombs: a small file declaring a huge canvas.
MAX_PIXELS = 40_000_000


def _square(image: Image.Image, size: int) -> bytes:
    # ImageOps.fit crops the centre to a square and resizes in one step.
    fitted = ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, format="WEBP", quality=85, method=4)
    return out.getvalue()


def avatar_images(data: bytes) -> tuple[bytes, bytes]:
    """The 256 px and 64 px squares of an uploaded image, or BadRequest on `avatar` when the
    bytes are not an image Pillow can read (or are too large)."""
    if not data:
        raise BadRequest("send an image as the request body", field="avatar")
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadRequest(f"the image is over {MAX_UPLOAD_BYTES} bytes", field="avatar")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise BadRequest("the image has too many pixels", field="avatar")
            probe.seek(0)  # the first frame of an animation
            # Turn the pixels the way the camera meant them, then forget the EXIF.
            image = ImageOps.exif_transpose(probe)
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadRequest("the file is not an image", field="avatar") from exc
    mode = "RGBA" if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info else "RGB"
    image = image.convert(mode)
    image.info.clear()
    return _square(image, LARGE), _square(image, SMALL)

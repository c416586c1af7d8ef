"""Errors of uploads, in the one mapping of core/errors.py (REST status + code)."""

from core.errors import BadRequest, ChatError


class FileTooLarge(ChatError):
    code = "file_too_large"
    status = 413

    def __init__(self, *, limit: int) -> None:
        super().__init__(
            f"Files can be at most {readable_size(limit)} ({limit} bytes).", field="file"
        )


def readable_size(size: int) -> str:
    """1536 -> "1.5 KiB": sizes in messages people read."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return (
                f"{value:.0f} {unit}"
                if unit == "bytes"
                else f"{value:.1f} {unit}".replace(".0 ", " ")
            )
        value /= 1024
    return f"{size} bytes"


class QuotaExceeded(ChatError):
    code = "quota_exceeded"
    status = 413


class UnsupportedFileType(ChatError):
    code = "unsupported_file_type"
    status = 415


class ImageTooLarge(BadRequest):
    """A decompression bomb, or just an image with more pixels than Parley decodes."""

    code = "image_too_large"
    status = 400

"""Errors of uploads, in the one mapping of messaging/errors.py (REST status + code)."""

from messaging.errors import BadRequest, ChatError


class FileTooLarge(ChatError):
    code = "file_too_large"
    status = 413


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

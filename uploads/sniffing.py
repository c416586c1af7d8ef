"""What a file is, from its bytes: the client's name and Content-Type are never trusted.

Known binary formats by their magic numbers (`filetype`), programs by theirs (PE, ELF, Mach-O,
`#!` scripts), and text told apart from markup a browser would run (HTML, SVG, XML)."""

from dataclasses import dataclass

import filetype

HEAD_BYTES = 8192

# Magic numbers of programs a machine would run directly.
_EXECUTABLE_MAGIC = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O 32/64, both byte orders
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal (also Java classes: refused alike)
    b"#!",  # scripts with an interpreter line
)
_EXECUTABLE_TYPES = {"application/x-msdownload", "application/x-executable", "application/wasm"}

# Markup a browser would render and run script in, were it served inline from our origin.
_ACTIVE_MARKERS = (b"<svg", b"<html", b"<!doctype html", b"<script", b"<?xml", b"<body", b"<iframe")

# Served inline (images shown, PDFs viewed) under their own type; everything else downloads.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
# Images Pillow reads, checks and thumbnails.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    executable: bool


def sniff(head: bytes) -> Sniffed:
    """The content type of a file starting with `head` (its first HEAD_BYTES bytes)."""
    if head.startswith(_EXECUTABLE_MAGIC):
        kind = filetype.guess_mime(head) or "application/x-executable"
        return Sniffed(kind, executable=True)
    kind = filetype.guess_mime(head)
    if kind is not None:
        return Sniffed(kind, executable=kind in _EXECUTABLE_TYPES)
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in lowered:
        return Sniffed("image/svg+xml", executable=False)
    if any(marker in lowered for marker in _ACTIVE_MARKERS):
        return Sniffed("text/html", executable=False)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the head is still text.
        if error.start < len(head) - 4:
            return Sniffed("application/octet-stream", executable=False)
    return Sniffed("text/plain", executable=False)

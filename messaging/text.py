"""The one check of client text before it is stored or looked up: every service that takes text
from a client (message bodies, group names and descriptions, reasons, push endpoints) runs it,
so REST and WebSocket refuse the same text with the same `bad_request`.

JSON can carry what no database can store: `"\\ud800"` decodes to a lone UTF-16 surrogate, which
is not a Unicode scalar value and has no UTF-8 encoding (the database driver raises
UnicodeEncodeError, on SQLite and PostgreSQL alike), and PostgreSQL's text refuses NUL. The
messages are DRF's own for the same refusals, so a REST serializer that refuses first says the
same thing.
"""

from html import escape

from core.errors import BadRequest


def storable_text(value: str, *, field: str) -> str:
    """`value` unchanged if the database can store it; else BadRequest naming `field`."""
    if "\x00" in value:
        raise BadRequest("Null characters are not allowed.", field=field)
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code_point = ord(value[exc.start])
        raise BadRequest(
            f"Surrogate characters are not allowed: U+{code_point:X}.", field=field
        ) from None
    return value


def plain_html(text: str) -> str:
    """Text shown as it is, for the `html` of messages not written in Markdown (system
    messages, messages stored before rendering existed)."""
    return f"<p>{escape(text)}</p>" if text else ""

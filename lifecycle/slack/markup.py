"""Slack's message markup ("mrkdwn") as Parley's Markdown.

`<@U123>` and `<@U123|name>` become `@username` (a mention when that user is a member),
`<#C123|name>` `#name`, `<!channel>` / `<!here>` / `<!everyone>` `@all`, `<url|text>` a
Markdown link, `*bold*` `**bold**`, `~strike~` `~~strike~~`; `_italic_` and code are the same
in both. Text inside code spans and blocks is left alone. Slack escapes &, < and > in text.
"""

import re
from collections.abc import Callable

ANGLE_RE = re.compile(r"<([^<>\n]+)>")
BOLD_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
STRIKE_RE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
CODE_RE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
SPECIAL_ALL = {"!channel", "!here", "!everyone"}


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _link_text(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def slack_to_markdown(
    text: str,
    *,
    username_of: Callable[[str], str | None],
    channel_name_of: Callable[[str], str | None],
) -> str:
    """The text as Parley Markdown; `username_of(slack user id)` and `channel_name_of(slack
    channel id)` name what the text links to (None: unknown, the label or id is kept)."""
    parts = CODE_RE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:  # a code span or block: only Slack's escaping is undone
            out.append(_unescape(part))
        else:
            out.append(_convert(part, username_of, channel_name_of))
    return "".join(out)


def _convert(
    text: str,
    username_of: Callable[[str], str | None],
    channel_name_of: Callable[[str], str | None],
) -> str:
    def angle(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            name = username_of(target[1:])
            return f"@{name}" if name else f"@{_unescape(label or target[1:])}"
        if target.startswith("#"):
            name = channel_name_of(target[1:]) or label or target[1:]
            return f"#{_unescape(name)}"
        if target in SPECIAL_ALL or target.split("^")[0] in SPECIAL_ALL:
            return "@all"
        if target.startswith("!"):
            return _unescape(label or target[1:])
        url = _unescape(target)
        if label:
            return f"[{_link_text(_unescape(label))}]({url})"
        return url.removeprefix("mailto:") if url.startswith("mailto:") else url

    text = ANGLE_RE.sub(angle, text)
    text = BOLD_RE.sub(r"**\1**", text)
    text = STRIKE_RE.sub(r"~~\1~~", text)
    return _unescape(text)


def plain_text(text: str, *, username_of: Callable[[str], str | None]) -> str:
    """A system message's text (joins, topic changes): mentions as @name, no other markup."""
    return slack_to_markdown(text, username_of=username_of, channel_name_of=lambda _: None)

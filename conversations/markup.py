"""Message bodies as HTML: rendered once on the server when a message is stored or edited, and
stored with it.

The body stays what the user typed; `html` is a CommonMark rendering limited to emphasis,
strong, strikethrough, inline code, fenced code blocks, block quotes, lists, links and autolinks
(http, https and mailto only; bare http(s) URLs too), plus mentions, and then passed through
an allow-list sanitizer (nh3, the Rust ammonia crate). Raw HTML in the body is escaped by the
parser, never passed on; the sanitizer is the second wall, so a parser quirk cannot smuggle a
tag or an attribute that the allow-list does not name.
"""

import re
from dataclasses import dataclass, field
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline

# `@name`: a Django username is made of letters, digits and . + - _ (and @, which a mention
# cannot carry). A trailing . or - is punctuation more often than part of a name ("thanks @bob.").
MENTION_RE = re.compile(r"(?<![\w@])@([\w][\w.+-]*)")
ALL_NAMES = frozenset({"all", "everyone"})
LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+#-]{1,32}")
LINK_SCHEMES = ("http:", "https:", "mailto:")

ALLOWED_TAGS = {
    "p", "br", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "span",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "target"},
    "code": {"class"},
    "ol": {"start"},
    "span": {"class", "data-user-id"},
}


@dataclass
class Rendered:
    html: str
    mentions: list[int] = field(default_factory=list)  # user ids named with @username
    mentions_all: bool = False  # @all / @everyone, made by someone allowed to


def mention_candidates(body: str) -> set[str]:
    """Lower-cased names the body may mention: each `@name`, also without trailing . and -."""
    names = set()
    for match in MENTION_RE.finditer(body):
        name = match.group(1).lower()
        names.add(name)
        names.add(name.rstrip(".-"))
    names.discard("")
    return names


def _mention_rule(state: StateInline, silent: bool) -> bool:
    """An inline rule: `@name` of a member becomes a mention token. Never inside code (the
    code rules run first and consume it)."""
    pos = state.pos
    if state.src[pos] != "@":
        return False
    if pos > 0 and (state.src[pos - 1].isalnum() or state.src[pos - 1] in "_@"):
        return False
    match = MENTION_RE.match(state.src, pos)
    if match is None:
        return False
    env = state.env
    name = match.group(1)
    user_id = None
    while name:
        lowered = name.lower()
        if lowered in env["members"]:
            user_id = env["members"][lowered]
            break
        if lowered in ALL_NAMES and env["all_allowed"]:
            user_id = 0
            break
        if name[-1] not in ".-+":
            return False
        name = name[:-1]
    if user_id is None:
        return False
    if not silent:
        token = state.push("mention", "span", 0)
        token.content = name
        token.meta = {"user_id": user_id}
        if user_id:
            env["mentions"].append(user_id)
        else:
            env["mentions_all"] = True
    state.pos = pos + 1 + len(name)
    return True


SCHEME_RE = re.compile(r"(?<![\w])(https?)$", re.IGNORECASE)
URL_TAIL_RE = re.compile(r"://[^\s<>\"'`]+")
URL_TRAILING_RE = re.compile(r"[.,;:!?)\]}'\"*_~]+$")


def _bare_url_rule(state: StateInline, silent: bool) -> bool:
    """A bare http(s) URL in text becomes a link (as a chat user expects; CommonMark links only
    <…> autolinks). Runs at the `:` after the scheme, which the text rule left pending."""
    if state.linkLevel > 0 or state.src[state.pos] != ":":
        return False
    scheme = SCHEME_RE.search(state.pending)
    tail = URL_TAIL_RE.match(state.src, state.pos)
    if scheme is None or tail is None:
        return False
    rest = URL_TRAILING_RE.sub("", tail.group(0))
    if len(rest) <= len("://"):
        return False
    url = scheme.group(1) + rest
    href = state.md.normalizeLink(url)
    if not state.md.validateLink(href):
        return False
    if not silent:
        state.pending = state.pending[: -len(scheme.group(1))]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": href}
        token.markup = "linkify"
        token.info = "auto"
        token = state.push("text", "", 0)
        token.content = state.md.normalizeLinkText(url)
        token = state.push("link_close", "a", -1)
        token.markup = "linkify"
        token.info = "auto"
    state.pos += len(rest)
    return True


def _render_mention(self, tokens, idx, options, env) -> str:  # type: ignore[no-untyped-def]
    token = tokens[idx]
    user_id = token.meta["user_id"]
    text = escape("@" + token.content)
    if user_id:
        return f'<span class="mention" data-user-id="{int(user_id)}">{text}</span>'
    return f'<span class="mention mention-all">{text}</span>'


def _render_fence(self, tokens, idx, options, env) -> str:  # type: ignore[no-untyped-def]
    token = tokens[idx]
    info = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    language = f' class="language-{info}"' if LANGUAGE_RE.fullmatch(info) else ""
    return f"<pre><code{language}>{escape(token.content)}</code></pre>\n"


def _validate_link(url: str) -> bool:
    return url.strip().lower().startswith(LINK_SCHEMES)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    md.enable("strikethrough")
    # What a chat message has no use for: headings, rules, images, indented code (four spaces
    # in a pasted log would otherwise turn into a code block), raw HTML (escaped as text).
    md.disable(["heading", "lheading", "hr", "image", "code", "html_block", "html_inline"])
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.inline.ruler.before("emphasis", "mention", _mention_rule)
    md.inline.ruler.before("emphasis", "bare_url", _bare_url_rule)
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("fence", _render_fence)
    return md


_MD = _parser()


def sanitize(html: str) -> str:
    """The allow-list: only the tags and attributes the renderer makes; links only to http,
    https and mailto, opened in a new tab without referrer or opener."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


# Text that Markdown leaves as it is: letters, digits, spaces and , . ? ' ( ), not starting with
# a digit ("1. x" is a list) and without outer spaces. Most chat messages are like this, and
# they skip the parser (about 100 us a message otherwise); tests check both ways agree.
PLAIN_RE = re.compile(r"(?![\d\s])[^\W_]*(?:[^\W_]|[ ,.?'()])*(?<!\s)")


def render(body: str, *, members: dict[str, int], all_allowed: bool) -> Rendered:
    """The body's HTML and mentions. `members`: lower-cased username -> id of the members that
    may be mentioned; `all_allowed`: whether @all / @everyone mention everyone."""
    if PLAIN_RE.fullmatch(body):
        return Rendered(html=f"<p>{body}</p>")
    return render_markdown(body, members=members, all_allowed=all_allowed)


def render_markdown(body: str, *, members: dict[str, int], all_allowed: bool) -> Rendered:
    """`render` through the Markdown parser and the sanitizer, whatever the body."""
    env = {"members": members, "all_allowed": all_allowed, "mentions": [], "mentions_all": False}
    html = sanitize(_MD.render(body, env))
    mentions = list(dict.fromkeys(env["mentions"]))
    return Rendered(html=html.strip(), mentions=mentions, mentions_all=env["mentions_all"])

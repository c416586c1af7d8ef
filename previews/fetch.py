"""Fetching a linked page for its preview, safe against server-side request forgery.

Every hop (the link and each redirect, at most PREVIEW_MAX_REDIRECTS) must be http(s) on port
80 or 443 without credentials, and its host must resolve to public addresses only; the
connection goes to the very address checked (chatsite/outbound.py, shared with Web Push). At
most PREVIEW_MAX_BYTES are read, within PREVIEW_TIMEOUT seconds in all, and only text/html is
read at all. PARLEY_LINK_PREVIEWS_ALLOW_LOOPBACK (tests and development only) also allows
loopback addresses on any port; every other private, link-local, multicast or reserved address
stays refused.
"""

import ipaddress
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from chatsite.outbound import AddressRefused, guarded_session, public_addresses, resolve

PREVIEW_MAX_BYTES = 1024 * 1024
PREVIEW_TIMEOUT = 5.0
PREVIEW_MAX_REDIRECTS = 3
PORTS = {"http": 80, "https": 443}
USER_AGENT = "ParleyLinkPreview/1.0 (+https://github.com/)"


class PreviewRefused(Exception):
    """The link (or a redirect) is not one Parley fetches, or the answer is not a page."""


@dataclass(frozen=True)
class Preview:
    url: str
    title: str
    description: str
    image_url: str


def _allow_loopback() -> bool:
    return bool(settings.PARLEY_LINK_PREVIEWS_ALLOW_LOOPBACK)


def _policy(host: str, port: int) -> list[str]:
    """The addresses a preview may connect to for host:port (see the module docstring)."""
    if _allow_loopback():
        addresses = resolve(host, port)
        if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
            return addresses
    if port not in PORTS.values():
        raise AddressRefused(f"link previews use ports 80 and 443 only, not {port}")
    return public_addresses(host, port)


def check_url(url: str) -> str:
    """The URL if its shape is one Parley fetches (http/https, a host, no credentials, port 80
    or 443); addresses are checked when connecting."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise PreviewRefused("not a valid URL") from error
    if parts.scheme not in PORTS or not parts.hostname:
        raise PreviewRefused("only http and https links are previewed")
    if parts.username is not None or parts.password is not None:
        raise PreviewRefused("links with credentials are not fetched")
    if port is not None and port not in PORTS.values() and not _allow_loopback():
        raise PreviewRefused(f"link previews use ports 80 and 443 only, not {port}")
    return url


def fetch_preview(url: str) -> Preview | None:
    """The preview of the page at `url`, or None when the page has no title; PreviewRefused
    when the link or a redirect is refused, or the answer is not an HTML page."""
    deadline = time.monotonic() + PREVIEW_TIMEOUT
    session = guarded_session(policy=_policy)
    current = check_url(url)
    try:
        for _hop in range(PREVIEW_MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PreviewRefused("the page took too long")
            response = session.get(
                current,
                allow_redirects=False,
                stream=True,
                timeout=remaining,
                headers={"User-Agent": USER_AGENT, "Accept": "text/html"},
            )
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    current = check_url(urljoin(current, location))
                    continue
                if response.status_code != 200:
                    raise PreviewRefused(f"the page answered {response.status_code}")
                kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if kind != "text/html":
                    raise PreviewRefused(f"not an HTML page ({kind or 'no type'})")
                page = _read_page(response, deadline)
                return _preview_of(page, base=current, url=url)
        raise PreviewRefused(f"more than {PREVIEW_MAX_REDIRECTS} redirects")
    except AddressRefused as error:
        raise PreviewRefused(str(error)) from error
    except requests.RequestException as error:
        cause = error.__context__
        while cause is not None:
            if isinstance(cause, AddressRefused):
                raise PreviewRefused(str(cause)) from error
            cause = cause.__context__
        raise PreviewRefused(f"the page could not be fetched: {error}") from error
    finally:
        session.close()


def _read_page(response: requests.Response, deadline: float) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16384):
        chunks.append(chunk)
        size += len(chunk)
        if size >= PREVIEW_MAX_BYTES or time.monotonic() > deadline:
            break
    data = b"".join(chunks)[:PREVIEW_MAX_BYTES]
    return data.decode(response.encoding or "utf-8", errors="replace")


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key and key not in self.meta and values.get("content"):
                self.meta[key] = values["content"]
        elif tag == "title" and not self.title:
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _clean(text: str, limit: int) -> str:
    text = " ".join(text.split())
    text = "".join(c for c in text if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    return text[:limit]


def _preview_of(page: str, *, base: str, url: str) -> Preview | None:
    """The preview of `url` (as linked) from its page (fetched from `base`, after redirects)."""
    parser = _MetaParser()
    parser.feed(page)
    meta = parser.meta
    title = _clean(meta.get("og:title") or meta.get("twitter:title") or parser.title, 300)
    if not title:
        return None
    description = _clean(
        meta.get("og:description")
        or meta.get("twitter:description")
        or meta.get("description")
        or "",
        1000,
    )
    image = (meta.get("og:image") or meta.get("twitter:image") or "").strip()
    image_url = urljoin(base, image) if image else ""
    if urlsplit(image_url).scheme not in PORTS or len(image_url) > 2000:
        image_url = ""
    return Preview(url=url, title=title, description=description, image_url=image_url)

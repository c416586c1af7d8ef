"""REST helpers over aiohttp: accounts and tokens, conversations and history, groups, uploads,
bots. Every error answer raises `ParleyError` with the server's `code`, `detail`, `field`."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, Any

import aiohttp

from .errors import ParleyError
from .events import Message


@dataclass(slots=True)
class HistoryPage:
    messages: list[Message]
    has_more: bool
    last_seq: int


class RestClient:
    """`RestClient("https://chat.example", token)`; `await rest.login(username, password)`
    gets a token pair (and keeps the refresh token for `refresh_access()`)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.refresh_token: str | None = None
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "RestClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """One call; the decoded JSON answer (None for 204; bytes with `raw=True`)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        sent_headers = dict(headers or {})
        if self.token:
            sent_headers["Authorization"] = f"Bearer {self.token}"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        async with self._session.request(
            method,
            self.base_url + path,
            json=json_body,
            params=query,
            data=data,
            headers=sent_headers,
        ) as answer:
            body = await answer.read()
            if answer.status >= 400:
                raise _error(answer.status, body, answer.headers.get("Retry-After"))
            if raw:
                return body
            if answer.status == 204 or not body:
                return None
            try:
                return json.loads(body)
            except ValueError:
                return body.decode(errors="replace")

    # --- accounts and tokens --------------------------------------------------------------

    async def register(self, username: str, password: str, **fields: Any) -> dict[str, Any]:
        return await self.request(
            "POST",
            "/api/auth/register/",
            json_body={"username": username, "password": password, **fields},
        )

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Logs in and keeps the tokens. An account with two-factor login answers
        `{"otp_required": true, "ephemeral"}`: finish with `login_otp()`."""
        answer = await self.request(
            "POST", "/api/auth/token/", json_body={"username": username, "password": password}
        )
        self._keep(answer)
        return answer

    async def login_otp(self, ephemeral: str, code: str) -> dict[str, Any]:
        answer = await self.request(
            "POST", "/api/auth/token/otp/", json_body={"ephemeral": ephemeral, "code": code}
        )
        self._keep(answer)
        return answer

    async def refresh_access(self) -> str:
        """A new access token from the refresh token (which rotates); returns the access token."""
        if not self.refresh_token:
            raise ParleyError("not_authenticated", "no refresh token: log in first")
        answer = await self.request(
            "POST", "/api/auth/token/refresh/", json_body={"refresh": self.refresh_token}
        )
        self._keep(answer)
        return str(self.token)

    def _keep(self, answer: dict[str, Any]) -> None:
        if answer.get("access"):
            self.token = answer["access"]
        if answer.get("refresh"):
            self.refresh_token = answer["refresh"]

    async def me(self) -> dict[str, Any]:
        return await self.request("GET", "/api/me/")

    async def create_token(
        self, name: str, *, scopes: Iterable[str] = ("read", "write"), expires_in: int | None = None
    ) -> dict[str, Any]:
        """A personal API token (`{"id", "token", ...}`; the token is shown once)."""
        return await self.request(
            "POST",
            "/api/me/tokens/",
            json_body={"name": name, "scopes": list(scopes), "expires_in": expires_in},
        )

    async def revoke_token(self, token_id: int) -> None:
        await self.request("DELETE", f"/api/me/tokens/{token_id}/")

    async def create_bot(self, username: str, display_name: str | None = None) -> dict[str, Any]:
        """A bot you own: `{"id", "username", "token"}` (the token is shown once)."""
        body = {"username": username, "display_name": display_name or username}
        return await self.request("POST", "/api/bots/", json_body=body)

    # --- conversations and history --------------------------------------------------------

    async def conversations(self) -> list[dict[str, Any]]:
        return await self.request("GET", "/api/conversations/")

    async def direct(self, user_id: int) -> dict[str, Any]:
        """The direct chat with someone (created on first use)."""
        return await self.request("POST", "/api/conversations/direct/", json_body={"user": user_id})

    async def history(
        self,
        conversation: int,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int | None = None,
    ) -> HistoryPage:
        """One page of history (`after_seq`: ascending from there; `before_seq`: the page
        before it; neither: the newest page)."""
        answer = await self.request(
            "GET",
            f"/api/conversations/{conversation}/messages/",
            params={"after_seq": after_seq, "before_seq": before_seq, "limit": limit},
        )
        return HistoryPage(
            [Message.from_dict(m) for m in answer["results"]],
            bool(answer.get("has_more")),
            int(answer.get("last_seq") or 0),
        )

    async def iter_history(
        self, conversation: int, *, after_seq: int = 0, limit: int = 500
    ) -> AsyncIterator[Message]:
        """Every message after `after_seq`, ascending, page by page."""
        while True:
            page = await self.history(conversation, after_seq=after_seq, limit=limit)
            for message in page.messages:
                yield message
            if not page.has_more or not page.messages:
                return
            after_seq = page.messages[-1].seq

    async def post_message(
        self, conversation: int, body: str, *, client_msg_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Sends over REST (the same service as the socket's `send`)."""
        payload: dict[str, Any] = {"body": body, **fields}
        if client_msg_id:
            payload["client_msg_id"] = client_msg_id
        return await self.request(
            "POST", f"/api/conversations/{conversation}/messages/", json_body=payload
        )

    async def mark_read(self, conversation: int, seq: int) -> dict[str, Any]:
        return await self.request(
            "POST", f"/api/conversations/{conversation}/read/", json_body={"seq": seq}
        )

    # --- groups ---------------------------------------------------------------------------

    async def groups(self, *, public: bool = False, search: str | None = None) -> Any:
        return await self.request(
            "GET", "/api/groups/", params={"public": 1 if public else None, "search": search}
        )

    async def create_group(
        self, name: str, members: Iterable[int] = (), **fields: Any
    ) -> dict[str, Any]:
        """A new group you own (`fields`: `description`, `visibility`)."""
        return await self.request(
            "POST", "/api/groups/", json_body={"name": name, "members": list(members), **fields}
        )

    async def group(self, group_id: int) -> dict[str, Any]:
        return await self.request("GET", f"/api/groups/{group_id}/")

    async def update_group(self, group_id: int, **fields: Any) -> dict[str, Any]:
        return await self.request("PATCH", f"/api/groups/{group_id}/", json_body=fields)

    async def members(self, group_id: int) -> Any:
        return await self.request("GET", f"/api/groups/{group_id}/members/")

    async def add_member(
        self, group_id: int, user_id: int, *, role: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"user": user_id}
        if role:
            body["role"] = role
        return await self.request("POST", f"/api/groups/{group_id}/members/", json_body=body)

    async def remove_member(self, group_id: int, user_id: int) -> None:
        await self.request("DELETE", f"/api/groups/{group_id}/members/{user_id}/")

    async def leave_group(self, group_id: int) -> Any:
        return await self.request("POST", f"/api/groups/{group_id}/leave/")

    async def join_group(self, group_id: int) -> dict[str, Any]:
        return await self.request("POST", f"/api/groups/{group_id}/join/")

    # --- uploads --------------------------------------------------------------------------

    async def upload(
        self,
        file: str | PathLike[str] | bytes | IO[bytes],
        *,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """Uploads a file (a path, bytes or a binary file object); answers `{"id", "name",
        "size", "content_type", "url", "thumbnail_url", "width", "height"}`. Send it with
        `client.send(conversation, body, attachments=[upload["id"]])`."""
        if isinstance(file, str | PathLike):
            path = Path(file)
            content: bytes | IO[bytes] = await asyncio.to_thread(path.read_bytes)
            filename = filename or path.name
        else:
            content = file
        form = aiohttp.FormData()
        form.add_field("file", content, filename=filename or "file", content_type=content_type)
        return await self.request("POST", "/api/uploads/", data=form)

    async def download(self, url: str) -> bytes:
        """The bytes behind an upload's `url` or `thumbnail_url` (a path on this server)."""
        path = url[len(self.base_url) :] if url.startswith(self.base_url) else url
        return await self.request("GET", path, raw=True)


def _error(status: int, body: bytes, retry_after: str | None) -> ParleyError:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return ParleyError(f"http_{status}", body.decode(errors="replace")[:200], status=status)
    return ParleyError(
        str(data.get("code") or f"http_{status}"),
        str(data.get("detail") or ""),
        field=data.get("field"),
        status=status,
        retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        request_id=data.get("request_id"),
        body=data,
    )

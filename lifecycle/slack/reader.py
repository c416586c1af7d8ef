"""Reading a standard Slack workspace export zip safely.

The layout (Slack's "Export your workspace data"): `users.json`, `channels.json` (public),
`groups.json` (private), `dms.json` (direct messages), `mpims.json` (group direct messages) and a
folder per conversation (its name, or its id for direct messages) of `YYYY-MM-DD.json` files,
each a list of messages. Nothing is ever extracted to disk: members are read into memory one
at a time, bounded by their declared sizes, after the whole zip has been checked for unsafe
paths and zip-bomb ratios.
"""

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
TS_RE = re.compile(r"^\d{1,12}(\.\d{1,6})?$")
LISTS = {
    "channels.json": "public",
    "groups.json": "private",
    "mpims.json": "group_dm",
    "dms.json": "direct",
}
# A member this large is not refused for its ratio alone (small files compress very well).
RATIO_FLOOR_BYTES = 1024 * 1024


class SlackImportError(Exception):
    """A malformed or unsafe export: names the file (and the entry) at fault."""

    def __init__(self, message: str, *, file: str = "", entry: int | None = None) -> None:
        where = file + (f", entry {entry}" if entry is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.entry = entry


@dataclass
class SlackChannel:
    slack_id: str
    kind: str  # public | private | direct | group_dm
    name: str
    members: list[str]
    creator: str
    topic: str = ""
    purpose: str = ""
    folder: str | None = None  # None: the export has no folder for it
    days: list[str] = field(default_factory=list)  # member names, oldest first


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    parts = PurePosixPath(name).parts
    return ".." not in parts and not re.match(r"^[A-Za-z]:", name)


class SlackExport:
    """An opened, checked export. `check()` parses every file (nothing is imported before an
    export has passed it), `messages(channel)` then reads one conversation at a time."""

    def __init__(self, source: str | IO[bytes]) -> None:
        try:
            self.zip = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SlackImportError(f"not a zip file ({exc})", file="the export") from exc
        self.warnings: list[str] = []
        self._infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in self.zip.infolist():
            if not _safe_name(info.filename):
                raise SlackImportError(
                    "unsafe path in the zip (absolute, or with '..'): nothing was imported",
                    file=info.filename,
                )
            if info.is_dir():
                continue
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_FLOOR_BYTES and ratio > settings.PARLEY_IMPORT_MAX_RATIO:
                raise SlackImportError(
                    f"compression ratio {ratio:.0f}:1 is beyond the limit "
                    f"({settings.PARLEY_IMPORT_MAX_RATIO}:1): refused as a zip bomb",
                    file=info.filename,
                )
            if total > settings.PARLEY_IMPORT_MAX_UNPACKED_BYTES:
                raise SlackImportError(
                    f"the files unpack to more than {settings.PARLEY_IMPORT_MAX_UNPACKED_BYTES} "
                    "bytes (PARLEY_IMPORT_MAX_UNPACKED_BYTES): refused as a zip bomb",
                    file=info.filename,
                )
            self._infos[info.filename] = info
        # Some tools wrap the export in one top folder: read it from inside that folder.
        self.prefix = ""
        if "users.json" not in self._infos:
            tops = {name.split("/", 1)[0] for name in self._infos if "/" in name}
            if len(tops) == 1 and f"{next(iter(tops))}/users.json" in self._infos:
                self.prefix = next(iter(tops)) + "/"
        if f"{self.prefix}users.json" not in self._infos:
            raise SlackImportError("missing: a Slack export has a users.json", file="users.json")
        self.users: list[dict[str, Any]] = []
        self.channels: list[SlackChannel] = []

    def close(self) -> None:
        self.zip.close()

    # --- reading members ---------------------------------------------------------------------

    def _json(self, name: str) -> Any:
        info = self._infos[self.prefix + name]
        with self.zip.open(info) as member:
            # zipfile stops at the declared size (and checks the CRC there).
            data = member.read(info.file_size + 1)
        try:
            return json.loads(data)
        except UnicodeDecodeError as exc:
            raise SlackImportError(f"not UTF-8 text ({exc.reason})", file=name) from exc
        except json.JSONDecodeError as exc:
            raise SlackImportError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg} (truncated?)",
                file=name,
            ) from exc

    def has(self, name: str) -> bool:
        return self.prefix + name in self._infos

    def file_member(self, file_id: str) -> str | None:
        """The zip member holding a shared file's bytes, when the export has them
        (`__uploads/<file id>/<name>`, the layout of exports made with files)."""
        wanted = f"{self.prefix}__uploads/{file_id}/"
        for name in self._infos:
            if name.startswith(wanted):
                return name
        return None

    def read_member(self, name: str) -> bytes:
        info = self._infos[name]
        with self.zip.open(info) as member:
            return member.read(info.file_size + 1)

    # --- checking ------------------------------------------------------------------------------

    def check(self) -> dict[str, int]:
        """Parses and checks every file; returns the message count of each conversation by
        its Slack id. Raises SlackImportError naming the file and entry at fault."""
        self.users = self._list_of_objects("users.json", required=("id", "name"))
        self.channels = []
        seen: set[str] = set()
        for list_name, kind in LISTS.items():
            if not self.has(list_name):
                continue
            required = ("id",) if kind in ("direct",) else ("id", "name")
            for index, entry in enumerate(self._list_of_objects(list_name, required=required)):
                members = entry.get("members") or []
                if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                    raise SlackImportError(
                        "members must be a list of ids", file=list_name, entry=index
                    )
                channel = SlackChannel(
                    slack_id=entry["id"],
                    kind=kind,
                    name=str(entry.get("name") or entry["id"]),
                    members=members,
                    creator=str(entry.get("creator") or ""),
                    topic=str((entry.get("topic") or {}).get("value") or ""),
                    purpose=str((entry.get("purpose") or {}).get("value") or ""),
                )
                channel.folder = next(
                    (f for f in (channel.name, channel.slack_id) if self._is_folder(f)), None
                )
                if channel.folder is None:
                    self.warnings.append(
                        f"{channel.name} ({channel.slack_id}): no folder in the export, "
                        "so no messages (created empty)"
                    )
                else:
                    channel.days = sorted(
                        name
                        for name in self._infos
                        if name.startswith(f"{self.prefix}{channel.folder}/")
                        and DAY_RE.match(name.rsplit("/", 1)[1])
                    )
                    seen.add(channel.folder)
                self.channels.append(channel)
        for folder in sorted(self._folders() - seen - {"__uploads"}):
            self.warnings.append(f"{folder}/: a folder no channel list names (skipped)")
        counts = {}
        for channel in self.channels:
            counts[channel.slack_id] = sum(1 for _ in self._day_messages(channel))
        return counts

    def _folders(self) -> set[str]:
        return {
            name[len(self.prefix) :].split("/", 1)[0]
            for name in self._infos
            if name.startswith(self.prefix) and "/" in name[len(self.prefix) :]
        }

    def _is_folder(self, folder: str) -> bool:
        return folder in self._folders()

    def _list_of_objects(self, name: str, *, required: tuple[str, ...]) -> list[dict[str, Any]]:
        data = self._json(name)
        if not isinstance(data, list):
            raise SlackImportError("expected a list", file=name)
        for index, entry in enumerate(data):
            if not isinstance(entry, dict):
                raise SlackImportError("expected an object", file=name, entry=index)
            for key in required:
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise SlackImportError(
                        f"{key} is missing or not a string", file=name, entry=index
                    )
        return data

    def _day_messages(self, channel: SlackChannel) -> Iterator[dict[str, Any]]:
        for member in channel.days:
            name = member[len(self.prefix) :]
            data = self._json(name)
            if not isinstance(data, list):
                raise SlackImportError("expected a list of messages", file=name)
            for index, message in enumerate(data):
                _check_message(message, file=name, entry=index)
                if message.get("type", "message") == "message":
                    yield message

    def messages(self, channel: SlackChannel) -> list[dict[str, Any]]:
        """One conversation's messages, oldest first (ts order)."""
        return sorted(self._day_messages(channel), key=lambda m: ts_key(m["ts"]))


def ts_key(ts: str) -> tuple[int, int]:
    whole, _, fraction = ts.partition(".")
    return int(whole), int((fraction or "0").ljust(6, "0"))


def _check_message(message: object, *, file: str, entry: int) -> None:
    if not isinstance(message, dict):
        raise SlackImportError("expected a message object", file=file, entry=entry)
    ts = message.get("ts")
    if not isinstance(ts, str) or not TS_RE.match(ts):
        raise SlackImportError("ts is missing or not a Slack timestamp", file=file, entry=entry)
    for key, kind in (("text", str), ("user", str), ("thread_ts", str), ("subtype", str)):
        if key in message and message[key] is not None and not isinstance(message[key], kind):
            raise SlackImportError(f"{key} must be a string", file=file, entry=entry)
    for key in ("reactions", "files"):
        value = message.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, dict) for v in value)
        ):
            raise SlackImportError(f"{key} must be a list of objects", file=file, entry=entry)
    thread_ts = message.get("thread_ts")
    if thread_ts is not None and not TS_RE.match(thread_ts):
        raise SlackImportError("thread_ts is not a Slack timestamp", file=file, entry=entry)

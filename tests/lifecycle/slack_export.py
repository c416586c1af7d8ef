"""Slack workspace exports for tests, in the documented layout ("Export your workspace data":
users.json, channels.json, groups.json, dms.json, mpims.json and a folder of YYYY-MM-DD.json
message lists per conversation, named after the channel or, for DMs, its id).

The messages cover what an import must handle: a thread with replies, reactions, an edited and a
deleted (tombstone) message, a file share whose bytes are in the export (`__uploads/<file id>/`)
and one whose are not, a bot message, a user mention, a channel mention, @channel, a join and a
topic change, and messages in two months."""

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any


def ts(year: int, month: int, day: int, hour: int, minute: int, micro: int = 100) -> str:
    seconds = int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())
    return f"{seconds}.{micro:06d}"


ALICE, BOB, CAROL, DEPLOYBOT = "U01ALICE", "U02BOB", "U03CAROL", "U04DEPLOY"
GENERAL, RANDOM, SECRET, DM, MPIM = "C01GENERAL", "C02RANDOM", "G01SECRET", "D01AB", "G02MPIM"
ROOT_TS = ts(2025, 3, 10, 9, 5)


def _user(uid: str, name: str, real: str, email: str | None, **extra: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "real_name": real,
        "display_name": real.split()[0],
        "image_72": f"https://avatars.slack-edge.com/{uid}_72.png",
    }
    if email:
        profile["email"] = email
    return {
        "id": uid,
        "team_id": "T01TEAM",
        "name": name,
        "deleted": False,
        "real_name": real,
        "tz": "Europe/Berlin",
        "profile": profile,
        "is_admin": uid == ALICE,
        "is_bot": False,
        "is_app_user": False,
        "updated": 1700000000,
        **extra,
    }


def users() -> list[dict[str, Any]]:
    result = [
        _user(ALICE, "alice", "Alice Liddell", "alice@example.com"),
        _user(BOB, "bob", "Bob Builder", "bob@example.com"),
        _user(CAROL, "carol", "Carol Danvers", None),
        _user(DEPLOYBOT, "deploybot", "Deploy Bot", None, is_bot=True),
    ]
    result[-1]["profile"]["bot_id"] = "B01DEPLOY"
    return result


def _channel(cid: str, name: str, members: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "created": 1700000000,
        "creator": members[0],
        "is_archived": False,
        "is_general": cid == GENERAL,
        "members": members,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": f"The {name} channel", "creator": members[0], "last_set": 1700000000},
        **extra,
    }


def general_messages() -> dict[str, list[dict[str, Any]]]:
    day1 = [
        {
            "type": "message",
            "subtype": "channel_join",
            "user": ALICE,
            "text": f"<@{ALICE}> has joined the channel",
            "ts": ts(2025, 3, 10, 9, 0),
        },
        {
            "client_msg_id": "5b0f7a1e-0000-4000-8000-000000000001",
            "type": "message",
            "user": ALICE,
            "text": (
                "Hello *team*, see <https://example.com|the site> and ~old~ `code *x*` &amp; more"
            ),
            "ts": ROOT_TS,
            "team": "T01TEAM",
            "thread_ts": ROOT_TS,
            "reply_count": 2,
            "reply_users_count": 2,
            "latest_reply": ts(2025, 3, 10, 9, 7),
            "reply_users": [BOB, CAROL],
            "replies": [
                {"user": BOB, "ts": ts(2025, 3, 10, 9, 6)},
                {"user": CAROL, "ts": ts(2025, 3, 10, 9, 7)},
            ],
            "reactions": [
                {"name": "thumbsup", "users": [BOB, CAROL], "count": 2},
                {"name": "tada::skin-tone-2", "users": [BOB], "count": 1},
                {"name": "custom-partyparrot", "users": [CAROL], "count": 1},
            ],
        },
        {
            "type": "message",
            "user": BOB,
            "text": f"Thanks <@{ALICE}>!",
            "ts": ts(2025, 3, 10, 9, 6),
            "thread_ts": ROOT_TS,
            "parent_user_id": ALICE,
        },
        {
            "type": "message",
            "user": CAROL,
            "text": f"Moved the rest to <#{RANDOM}|random>",
            "ts": ts(2025, 3, 10, 9, 7),
            "thread_ts": ROOT_TS,
            "parent_user_id": ALICE,
        },
        {
            "type": "message",
            "user": BOB,
            "text": "Fixed the typo",
            "ts": ts(2025, 3, 10, 9, 10),
            "edited": {"user": BOB, "ts": ts(2025, 3, 10, 9, 12)},
        },
        {
            "type": "message",
            "subtype": "tombstone",
            "user": "USLACKBOT",
            "text": "This message was deleted.",
            "hidden": True,
            "ts": ts(2025, 3, 10, 9, 15),
            "thread_ts": ts(2025, 3, 10, 9, 15),
            "reply_count": 0,
        },
        {
            "type": "message",
            "user": CAROL,
            "text": "The report and the mockup",
            "ts": ts(2025, 3, 10, 9, 20),
            "upload": True,
            "files": [
                {
                    "id": "F01REPORT",
                    "created": 1741598400,
                    "name": "report.txt",
                    "title": "report.txt",
                    "mimetype": "text/plain",
                    "filetype": "text",
                    "size": 21,
                    "url_private": "https://files.slack.com/files-pri/T01TEAM-F01REPORT/report.txt",
                    "permalink": "https://team.slack.com/files/U03CAROL/F01REPORT/report.txt",
                },
                {
                    "id": "F02MOCKUP",
                    "created": 1741598400,
                    "name": "mockup.png",
                    "title": "mockup.png",
                    "mimetype": "image/png",
                    "filetype": "png",
                    "size": 12345,
                    "url_private": "https://files.slack.com/files-pri/T01TEAM-F02MOCKUP/mockup.png",
                    "permalink": "https://team.slack.com/files/U03CAROL/F02MOCKUP/mockup.png",
                },
            ],
        },
        {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B01DEPLOY",
            "username": "deploybot",
            "text": "Deployed *v1.2* to production",
            "ts": ts(2025, 3, 10, 9, 30),
        },
        {
            "type": "message",
            "subtype": "channel_topic",
            "user": ALICE,
            "text": f"<@{ALICE}> set the channel topic: Launch week",
            "topic": "Launch week",
            "ts": ts(2025, 3, 10, 9, 40),
        },
    ]
    day2 = [
        {
            "type": "message",
            "user": ALICE,
            "text": "<!channel> launch is tomorrow",
            "ts": ts(2025, 3, 11, 8, 0),
        },
    ]
    return {"2025-03-10.json": day1, "2025-03-11.json": day2}


def export_files(*, missing_folder: bool = False) -> dict[str, bytes]:
    """The members of a complete export, by name."""
    channels = [_channel(GENERAL, "general", [ALICE, BOB, CAROL, DEPLOYBOT])]
    if missing_folder:
        # Listed in channels.json, but the export has no folder for it.
        channels.append(_channel(RANDOM, "random", [ALICE, CAROL]))
    files: dict[str, Any] = {
        "users.json": users(),
        "channels.json": channels,
        "groups.json": [_channel(SECRET, "secret-plans", [ALICE, BOB], is_private=True)],
        "dms.json": [{"id": DM, "created": 1700000000, "members": [ALICE, BOB]}],
        "mpims.json": [
            _channel(MPIM, "mpdm-alice--bob--carol-1", [ALICE, BOB, CAROL], is_mpim=True)
        ],
        "integration_logs.json": [],
    }
    for day, messages in general_messages().items():
        files[f"general/{day}"] = messages
    files["secret-plans/2025-04-01.json"] = [
        {"type": "message", "user": BOB, "text": "April plans", "ts": ts(2025, 4, 1, 10, 0)},
        {"type": "message", "user": ALICE, "text": "Agreed", "ts": ts(2025, 4, 1, 10, 1)},
    ]
    files[f"{DM}/2025-03-12.json"] = [
        {"type": "message", "user": ALICE, "text": "psst, bob", "ts": ts(2025, 3, 12, 12, 0)},
        {"type": "message", "user": BOB, "text": "yes?", "ts": ts(2025, 3, 12, 12, 1)},
    ]
    files["mpdm-alice--bob--carol-1/2025-03-12.json"] = [
        {"type": "message", "user": CAROL, "text": "lunch?", "ts": ts(2025, 3, 12, 11, 0)},
    ]
    encoded = {
        name: json.dumps(value, indent=1).encode() if not isinstance(value, bytes) else value
        for name, value in files.items()
    }
    encoded["__uploads/F01REPORT/report.txt"] = b"quarterly numbers: 42"
    return encoded


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def slack_export_zip(**options: Any) -> bytes:
    return zip_bytes(export_files(**options))


GENERAL_MESSAGE_COUNT = sum(len(m) for m in general_messages().values())

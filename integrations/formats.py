"""What incoming webhook payloads become: Slack's format, GitHub events and Alertmanager
notifications, each turned into one readable Markdown message body."""

from typing import Any

from core.errors import BadRequest

# GitHub events a webhook turns into messages; others are answered "ok" and dropped.
GITHUB_EVENTS = ("push", "pull_request", "issues", "check_run", "ping")


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _slack_text_object(value: Any) -> str:
    return _s(value.get("text")) if isinstance(value, dict) else _s(value)


def _slack_blocks(blocks: Any) -> list[str]:
    lines: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in {"section", "header"}:
            text = _slack_text_object(block.get("text"))
            if text:
                lines.append(f"**{text}**" if kind == "header" else text)
            for field in block.get("fields") or []:
                text = _slack_text_object(field)
                if text:
                    lines.append(text)
        elif kind == "context":
            parts = [_slack_text_object(e) for e in block.get("elements") or []]
            if any(parts):
                lines.append(" ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append("---")
    return lines


def _slack_attachments(attachments: Any) -> list[str]:
    lines: list[str] = []
    for item in attachments if isinstance(attachments, list) else []:
        if not isinstance(item, dict):
            continue
        found: list[str] = []
        for key in ("pretext", "author_name"):
            if _s(item.get(key)):
                found.append(_s(item[key]))
        title = _s(item.get("title"))
        if title:
            link = _s(item.get("title_link"))
            found.append(f"**[{title}]({link})**" if link else f"**{title}**")
        if _s(item.get("text")):
            found.append(_s(item["text"]))
        for field in item.get("fields") or []:
            if isinstance(field, dict) and (_s(field.get("title")) or _s(field.get("value"))):
                found.append(f"{_s(field.get('title'))}: {_s(field.get('value'))}".strip(": "))
        found.extend(_slack_blocks(item.get("blocks")))
        if not found and _s(item.get("fallback")):
            found.append(_s(item["fallback"]))
        if _s(item.get("footer")):
            found.append(_s(item["footer"]))
        lines.extend(found)
    return lines


def slack_text(payload: dict[str, Any]) -> str:
    """Slack's incoming-webhook JSON: `text`, then `blocks` and `attachments` reduced to text;
    `username` (a display-name override) leads the message as `**username**:`."""
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        raise BadRequest("text must be a string", field="text")
    parts = [text] if text else []
    if not parts:  # Slack shows blocks instead of text when both are there
        parts.extend(_slack_blocks(payload.get("blocks")))
    parts.extend(_slack_attachments(payload.get("attachments")))
    body = "\n".join(parts)
    if not body.strip():
        raise BadRequest("the payload has no text (text, blocks or attachments)", field="text")
    username = payload.get("username")
    if isinstance(username, str) and username.strip():
        body = f"**{username.strip()[:80]}**: {body}"
    return body


def _repo(payload: dict[str, Any]) -> str:
    repository = payload.get("repository") or {}
    name = _s(repository.get("full_name")) or "a repository"
    url = _s(repository.get("html_url"))
    return f"[{name}]({url})" if url else name


def _who(payload: dict[str, Any]) -> str:
    return _s((payload.get("sender") or {}).get("login")) or "someone"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def github_text(event: str, payload: dict[str, Any]) -> str | None:
    """A GitHub event as Markdown; None for events not turned into messages."""
    repo = _repo(payload)
    if event == "ping":
        return f"GitHub webhook for {repo} is set up. _{_s(payload.get('zen'))}_"
    if event == "push":
        ref = _s(payload.get("ref"))
        kind, _, name = ref.removeprefix("refs/").partition("/")
        noun = "tag" if kind == "tags" else "branch"
        pusher = _s((payload.get("pusher") or {}).get("name")) or _who(payload)
        if payload.get("deleted"):
            return f"**{pusher}** deleted {noun} `{name}` of {repo}"
        commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)]
        verb = "created" if payload.get("created") else "pushed to"
        count = f"{len(commits)} commit{'s' if len(commits) != 1 else ''}"
        compare = _s(payload.get("compare"))
        head = f"**{pusher}** {verb} {noun} `{name}` of {repo} ({count})"
        if compare:
            head += f" [compare]({compare})"
        lines = [head]
        for commit in commits[:10]:
            author = _s((commit.get("author") or {}).get("name"))
            sha = _s(commit.get("id"))[:7]
            url = _s(commit.get("url"))
            ref_text = f"[`{sha}`]({url})" if url else f"`{sha}`"
            line = f"- {ref_text} {_first_line(_s(commit.get('message')))}"
            lines.append(f"{line} ({author})" if author else line)
        if len(commits) > 10:
            lines.append(f"- … and {len(commits) - 10} more")
        return "\n".join(lines)
    if event in {"pull_request", "issues"}:
        item = payload.get("pull_request" if event == "pull_request" else "issue") or {}
        action = _s(payload.get("action"))
        if event == "pull_request" and action == "closed" and item.get("merged"):
            action = "merged"
        noun = "pull request" if event == "pull_request" else "issue"
        title = f"#{item.get('number')} {_s(item.get('title'))}"
        url = _s(item.get("html_url"))
        link = f"[{title}]({url})" if url else title
        return f"**{_who(payload)}** {action} {noun} {link} in {repo}"
    if event == "check_run":
        run = payload.get("check_run") or {}
        status = _s(run.get("status"))
        conclusion = _s(run.get("conclusion"))
        state = f"{status}: **{conclusion}**" if conclusion else status
        sha = _s(run.get("head_sha"))[:7]
        url = _s(run.get("html_url"))
        details = f" — [details]({url})" if url else ""
        return f"Check **{_s(run.get('name'))}** {state} on `{sha}` in {repo}{details}"
    return None


def is_alertmanager(payload: dict[str, Any]) -> bool:
    return isinstance(payload.get("alerts"), list) and "receiver" in payload


def alertmanager_text(payload: dict[str, Any]) -> str:
    """An Alertmanager notification (webhook_config, version 4): a header with the status and
    the group's labels, then one line per alert with its summary and labels."""
    alerts = [a for a in payload["alerts"] if isinstance(a, dict)]
    status = _s(payload.get("status")).upper() or "FIRING"
    group = payload.get("groupLabels") or {}
    labels = ", ".join(f"{k}={v}" for k, v in sorted(group.items())) if group else ""
    header = f"**[{status}:{len(alerts)}]** {labels}".rstrip()
    url = _s(payload.get("externalURL"))
    if url:
        header += f" ([Alertmanager]({url}))"
    lines = [header]
    for alert in alerts[:20]:
        alert_labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        name = _s(alert_labels.get("alertname")) or "alert"
        state = "🔥" if _s(alert.get("status") or payload.get("status")) == "firing" else "✅"
        summary = _s(annotations.get("summary")) or _s(annotations.get("description"))
        extra = ", ".join(f"{k}={v}" for k, v in sorted(alert_labels.items()) if k != "alertname")
        line = f"- {state} **{name}**"
        if summary:
            line += f": {summary}"
        if extra:
            line += f" ({extra})"
        source = _s(alert.get("generatorURL"))
        if source:
            line += f" [source]({source})"
        lines.append(line)
    if len(alerts) > 20:
        lines.append(f"- … and {len(alerts) - 20} more")
    truncated = payload.get("truncatedAlerts")
    if isinstance(truncated, int) and truncated > 0:
        lines.append(f"- … and {truncated} not sent by Alertmanager")
    return "\n".join(lines)

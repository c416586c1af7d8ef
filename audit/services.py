"""The audit log: one row per audited action (bans, moderators' deletions, group changes made
by owners and admins, announcements). Any app records through `audit_record`."""

from accounts.models import User

from .models import AuditLogEntry

REASON_MAX_CHARS = 1000


def audit_record(
    *,
    actor: User,
    action: str,
    target: str,
    target_type: str,
    target_id: str,
    reason: str = "",
    via: str,
) -> AuditLogEntry:
    """Adds one audit row; call inside the transaction of the action it records, so the row
    exists exactly when the action happened."""
    return AuditLogEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username(),
        action=action,
        target=target[:255],
        target_type=target_type,
        target_id=target_id,
        reason=(reason or "")[:REASON_MAX_CHARS],
        via=via,
    )

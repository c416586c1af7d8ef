"""The data lifecycle: background jobs (Slack import, exports, account deletion, retention
runs) with their progress, the Slack id mapping that makes imports idempotent, and each
conversation's retention policy and first seq."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Job(models.Model):
    """One background job and what it has done so far: the REST endpoints, the admin and the
    management commands show `progress` while it runs and `summary` when it is done."""

    class Kind(models.TextChoices):
        IMPORT_SLACK = "import_slack"
        EXPORT_USER = "export_user"
        EXPORT_CONVERSATION = "export_conversation"
        ACCOUNT_DELETE = "account_delete"
        RETENTION = "retention"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    # Random: a job id says nothing about other people's jobs (access is still checked).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Who asked (an export's owner, the deleted account, the staff member importing).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation_id = models.BigIntegerField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    # {"stage": str, "done": int, "total": int, ...}: rewritten as the job goes.
    progress = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # The job's file in the uploads storage: an import's zip, an export's result.
    file_key = models.CharField(max_length=255, blank=True, default="")
    file_size = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When an export's download stops working (and its file is removed).
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one export of each user queued or running (the contract).
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(kind="export_user", status__in=["queued", "running"]),
                name="lifecycle_one_running_export",
            ),
        ]
        indexes = [models.Index(fields=["kind", "created_at"], name="lifecycle_job_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"


class SlackMapping(models.Model):
    """A Slack object already imported and the Parley row it became: the reason a second run
    imports nothing twice. Messages are keyed "<channel id>:<ts>" (ts is unique per channel)."""

    class Kind(models.TextChoices):
        USER = "user"
        BOT = "bot"
        CHANNEL = "channel"
        MESSAGE = "message"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    slack_id = models.CharField(max_length=200)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "slack_id"], name="slack_mapping_unique"),
        ]

    def __str__(self) -> str:
        return f"slack {self.kind} {self.slack_id} -> {self.object_id}"


class ConversationRetention(models.Model):
    """A conversation's retention policy and where its history now starts. No row: the global
    PARLEY_RETENTION_DAYS applies and history starts at seq 1."""

    conversation = models.OneToOneField(
        "messaging.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # Days messages are kept; NULL follows PARLEY_RETENTION_DAYS.
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    # Staff exempt the conversation from every retention rule.
    legal_hold = models.BooleanField(default=False)
    # The lowest seq history can still hold: messages before it were deleted by retention
    # (their seqs are never reused). `sync` and history answer it as `first_seq`.
    first_seq = models.BigIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"retention of {self.conversation_id}: {self.retention_days} days"

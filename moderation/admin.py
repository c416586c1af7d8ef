"""Moderation in the Django admin. Every change goes through the services, so it is audited,
published live and obeys the same rules as the API; the audit log itself is read-only."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.admin import ParleyUserAdmin
from accounts.models import User
from audit.models import AuditLogEntry
from core.errors import ChatError
from groups.services import (
    group_member_add,
    group_member_remove,
    group_member_role_set,
    group_update,
)
from messaging.models import Conversation, Membership, Message
from messaging.services import message_delete

from .services import user_ban, user_unban

VIA = AuditLogEntry.Via.ADMIN


class ReasonActionForm(ActionForm):
    reason = forms.CharField(
        required=False, max_length=1000, help_text="Recorded in the audit log with the action."
    )


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "").strip()


admin.site.unregister(User)


@admin.register(User)
class ModerationUserAdmin(ParleyUserAdmin):
    # ParleyUserAdmin: renames in the admin follow the username policy.
    action_form = ReasonActionForm
    actions = ["ban_users", "unban_users"]
    list_display = ["username", "email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email", "first_name", "last_name"]

    @admin.action(description="Ban selected users (deactivate, close their connections)")
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        banned = 0
        for user in queryset.filter(is_active=True):
            try:
                user_ban(actor=request.user, user=user, reason=_reason(request), via=VIA)
                banned += 1
            except ChatError as exc:
                self.message_user(request, f"{user}: {exc.detail}", messages.ERROR)
        self.message_user(request, f"Banned {banned} user(s).")

    @admin.action(description="Unban selected users")
    def unban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.filter(is_active=False))
        for user in users:
            user_unban(actor=request.user, user=user, reason=_reason(request), via=VIA)
        self.message_user(request, f"Unbanned {len(users)} user(s).")

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """Unticking "active" on the form is a ban (and ticking it an unban)."""
        toggled = change and "is_active" in form.changed_data
        active = obj.is_active
        if toggled:
            obj.is_active = not active  # the service makes the change
        super().save_model(request, obj, form, change)
        if toggled:
            (user_unban if active else user_ban)(actor=request.user, user=obj, via=VIA)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    action_form = ReasonActionForm
    actions = ["delete_as_tombstones"]
    list_display = ["id", "conversation", "seq", "sender", "excerpt", "created_at", "deleted"]
    list_filter = ["conversation__kind", "created_at", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["body", "sender__username", "conversation__name", "=conversation__id"]
    date_hierarchy = "created_at"
    list_select_related = ["conversation", "sender"]
    readonly_fields = [f.name for f in Message._meta.fields]
    show_full_result_count = False

    @admin.display(description="body")
    def excerpt(self, message: Message) -> str:
        return message.body[:80] if not message.deleted_at else "(deleted)"

    @admin.display(boolean=True)
    def deleted(self, message: Message) -> bool:
        return message.deleted_at is not None

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # rows are never hard-deleted: tombstones only
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(
        description="Delete selected messages (tombstone, pushed live)",
        permissions=["view"],
    )
    def delete_as_tombstones(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        done = 0
        for message in queryset.filter(deleted_at__isnull=True):
            try:
                message_delete(
                    actor=request.user,
                    conversation_id=message.conversation_id,
                    message_id=message.pk,
                    reason=_reason(request),
                    via=VIA,
                )
                done += 1
            except ChatError as exc:
                self.message_user(request, f"{message}: {exc.detail}", messages.ERROR)
        self.message_user(request, f"Deleted {done} message(s).")


class MembershipInline(admin.TabularInline):
    """Group members; adding, removing and role changes go through the group services (system
    message, live events, audit)."""

    model = Membership
    fields = ["user", "role", "joined_seq", "joined_at"]
    readonly_fields = ["joined_seq", "joined_at"]
    raw_id_fields = ["user"]
    extra = 0

    def _is_group(self, obj: Conversation | None) -> bool:
        return obj is not None and obj.kind == Conversation.Kind.GROUP

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_group(obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_group(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_group(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "name", "members", "last_seq", "last_message_at"]
    list_filter = ["kind"]
    search_fields = ["name", "=id"]
    fields = ["kind", "name", "description", "created_by", "last_seq", "created_at"]
    readonly_fields = ["kind", "created_by", "last_seq", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(ordering="member_count")
    def members(self, conversation: Conversation) -> int:
        return conversation.member_count  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # groups are created by users; direct chats and announcements by use

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Conversation, form: Any, change: bool) -> None:
        changed = {
            f: form.cleaned_data[f] for f in ("name", "description") if f in form.changed_data
        }
        if obj.kind == Conversation.Kind.GROUP and changed:
            try:
                group_update(actor=request.user, group_id=obj.pk, via=VIA, **changed)
            except ChatError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            obj.refresh_from_db()
        elif changed:
            super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        group: Conversation = form.instance
        # The admin's change message reads these; the services did the saving.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if group.kind != Conversation.Kind.GROUP:
            return
        for inline in formset.forms:
            if not inline.has_changed() or inline.instance is None:
                continue
            data = inline.cleaned_data
            if not data:
                continue
            membership: Membership = inline.instance
            try:
                if data.get("DELETE") and membership.pk:
                    group_member_remove(
                        actor=request.user, group_id=group.pk, user_id=membership.user_id, via=VIA
                    )
                elif not membership.pk:
                    group_member_add(
                        actor=request.user,
                        group_id=group.pk,
                        user_id=data["user"].pk,
                        role=data["role"],  # "owner" is refused: hand ownership over instead
                        via=VIA,
                    )
                elif "role" in inline.changed_data:
                    group_member_role_set(
                        actor=request.user,
                        group_id=group.pk,
                        user_id=membership.user_id,
                        role=data["role"],
                        via=VIA,
                    )
            except ChatError as exc:
                self.message_user(request, f"{membership.user}: {exc.detail}", messages.ERROR)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """A searchable list; edit a group's members on the group's page."""

    list_display = ["user", "conversation", "role", "joined_at", "read_seq"]
    list_filter = ["role", "conversation__kind"]
    search_fields = ["user__username", "conversation__name", "=conversation__id"]
    list_select_related = ["user", "conversation"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

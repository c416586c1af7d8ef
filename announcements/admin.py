import uuid
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.models import AuditLogEntry
from core.errors import ChatError
from messaging.models import Conversation
from messaging.services import validate_body

from .models import Announcement
from .services import broadcast_post


class AnnouncementForm(forms.ModelForm):
    body = forms.CharField(widget=forms.Textarea, max_length=4000)

    class Meta:
        model = Announcement
        fields = ["body"]

    def clean_body(self) -> str:
        try:
            return validate_body(self.cleaned_data["body"])
        except ChatError as exc:
            raise forms.ValidationError(exc.detail) from exc


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    """Staff post announcements here (through the same service as POST /api/broadcasts/);
    the list shows what was posted. Delete one in Messages (tombstone)."""

    form = AnnouncementForm
    list_display = ["created_at", "sender", "body", "seq"]
    search_fields = ["body", "sender__username"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Announcement]:
        return (
            super()
            .get_queryset(request)
            .filter(conversation__kind=Conversation.Kind.ANNOUNCEMENT)
            .select_related("sender")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Announcement, form: Any, change: bool) -> None:
        ack = broadcast_post(
            actor=request.user,
            client_msg_id=f"admin-{uuid.uuid4().hex}",
            body=form.cleaned_data["body"],
            via=AuditLogEntry.Via.ADMIN,
        )
        stored = Announcement.objects.get(pk=int(ack["id"]))
        for field in Announcement._meta.concrete_fields:
            setattr(obj, field.attname, getattr(stored, field.attname))
        obj._state.adding = False

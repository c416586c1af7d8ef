"""REST: the caller's global notification settings; the one-click unsubscribe page."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import BadRequest
from messaging.api.serializers import ErrorSerializer

from .digests import email_notifications_off, unsubscribe_user_id
from .selectors import prefs_of
from .services import prefs_update


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$", "example": "22:00"}
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time without offset ("22:00", "07:30:00"): OpenAPI's `format: time` is
    RFC 3339's full-time, which requires an offset, and quiet hours have none (they follow
    the profile's timezone)."""


class PrefsSerializer(serializers.Serializer):
    do_not_disturb_until = serializers.DateTimeField(
        allow_null=True, required=False, help_text="No push or mail until then; null: off"
    )
    quiet_hours_start = LocalTimeField(
        allow_null=True, required=False, help_text="Local time (your profile's timezone)"
    )
    quiet_hours_end = LocalTimeField(
        allow_null=True, required=False, help_text="May be before the start (wraps midnight)"
    )
    email_notifications = serializers.BooleanField(
        required=False,
        help_text="Mail unread direct messages and mentions while you are away (needs a "
        "confirmed address)",
    )


def _shape(prefs) -> dict:  # type: ignore[no-untyped-def]
    return {
        "do_not_disturb_until": prefs.do_not_disturb_until,
        "quiet_hours_start": prefs.quiet_hours_start,
        "quiet_hours_end": prefs.quiet_hours_end,
        "email_notifications": prefs.email_notifications,
    }


class NotificationPrefsView(APIView):
    @extend_schema(responses={200: PrefsSerializer})
    def get(self, request: Request) -> Response:
        return Response(PrefsSerializer(_shape(prefs_of(user=request.user))).data)

    @extend_schema(request=PrefsSerializer, responses={200: PrefsSerializer, 400: ErrorSerializer})
    def patch(self, request: Request) -> Response:
        serializer = PrefsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        prefs = prefs_update(user=request.user, **serializer.validated_data)
        return Response(PrefsSerializer(_shape(prefs)).data)


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without a session; the token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest) -> HttpResponse:
    """GET: a page with one button; POST (the button, or a mail client's one-click): done."""
    token = request.GET.get("token", "") or request.POST.get("token", "")
    user_id = unsubscribe_user_id(token)
    if user_id is None:
        error = BadRequest("This unsubscribe link is not valid.", field="token")
        return render(request, "web/unsubscribe.html", {"error": error.detail}, status=400)
    if request.method == "POST":
        email_notifications_off(user_id=user_id)
        return render(request, "web/unsubscribe.html", {"done": True})
    return render(request, "web/unsubscribe.html", {"token": token})

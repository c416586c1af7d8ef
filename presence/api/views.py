from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import BadRequest
from messaging.api.serializers import ErrorSerializer
from presence.selectors import presence_of

MAX_USERS = 200


class PresenceSerializer(serializers.Serializer):
    type = serializers.CharField(default="presence")
    user = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["online", "offline"])
    last_seen = serializers.DateTimeField(
        allow_null=True,
        help_text="Last sign of life: while online, the latest heartbeat; null if never seen",
    )


class PresenceListSerializer(serializers.Serializer):
    results = PresenceSerializer(many=True)


def parse_user_ids(raw: str | None) -> list[int]:
    if not raw:
        raise BadRequest("users is required: comma-separated user ids", field="users")
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise BadRequest("users must be comma-separated integers", field="users") from None
    if not ids or any(uid < 1 or uid > 2**63 - 1 for uid in ids):
        raise BadRequest("users must be positive integers", field="users")
    if len(ids) > MAX_USERS:
        raise BadRequest(f"at most {MAX_USERS} users per request", field="users")
    return ids


class PresenceView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "users",
                str,
                required=True,
                description=f"Comma-separated user ids, at most {MAX_USERS}.",
            )
        ],
        responses={200: PresenceListSerializer, 400: ErrorSerializer},
        description="Online/offline and last_seen of the listed users who share a direct chat "
        "or a group with you (and of yourself). Other ids are left out of the answer.",
    )
    def get(self, request: Request) -> Response:
        user_ids = parse_user_ids(request.query_params.get("users"))
        return Response({"results": presence_of(viewer_id=request.user.pk, user_ids=user_ids)})

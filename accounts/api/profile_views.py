"""The caller's profile and avatar; avatars served to anyone holding their (unguessable) URL."""

from django.http import Http404, HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiRequest, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.avatars import MAX_UPLOAD_BYTES
from accounts.profiles import avatar_remove, avatar_set, profile_update
from accounts.selectors import SESSION_CLAIM, avatar_image
from accounts.sessions import login_session_end, login_sessions
from core.errors import BadRequest
from messaging.api.serializers import ErrorSerializer

from .serializers import ProfileSerializer, ProfileUpdateSerializer


class ImageParser(BaseParser):
    """The request body is the image itself (Content-Type image/png, image/jpeg, ...)."""

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        return {"avatar": stream.read(MAX_UPLOAD_BYTES + 1) if stream is not None else b""}


class ProfileView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: ProfileSerializer})
    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(request.user).data)

    @extend_schema(
        request=ProfileUpdateSerializer,
        responses={200: ProfileSerializer, 400: ErrorSerializer},
        description="Changes the fields sent. The user's contacts and their own devices get a "
        "`user_updated` frame.",
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "timezone" in data:
            data["timezone_name"] = data.pop("timezone")
        user = profile_update(user=request.user, **data)
        return Response(ProfileSerializer(user).data)


class AvatarView(APIView):
    parser_classes = [ImageParser, MultiPartParser]

    @extend_schema(
        request={
            "image/*": OpenApiRequest(bytes),
            "multipart/form-data": {
                "type": "object",
                "properties": {"avatar": {"type": "string", "format": "binary"}},
            },
        },
        responses={200: ProfileSerializer, 400: ErrorSerializer},
        description="Sets the avatar: the image as the body (any Content-Type image/*) or as "
        "the `avatar` part of a form. It is cropped to a square, resized to 256 and 64 px and "
        f"re-encoded without metadata (EXIF). At most {MAX_UPLOAD_BYTES} bytes; anything that "
        "is not an image is a 400 on `avatar`.",
    )
    def put(self, request: Request) -> Response:
        upload = request.data.get("avatar") if hasattr(request.data, "get") else None
        if upload is None:
            raise BadRequest("send an image as the body or as the avatar field", field="avatar")
        data = upload if isinstance(upload, bytes) else upload.read(MAX_UPLOAD_BYTES + 1)
        user = avatar_set(user=request.user, data=data)
        return Response(ProfileSerializer(user).data)

    @extend_schema(request=None, responses={200: ProfileSerializer})
    def delete(self, request: Request) -> Response:
        user = avatar_remove(user=request.user)
        return Response(ProfileSerializer(user).data)


def avatar_file(request: HttpRequest, key: str, size: int) -> HttpResponse:
    """An avatar's image. Its URL changes with every upload, so it may be cached for good."""
    data = avatar_image(key=key, size=size) if size in (64, 256) else None
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="image/webp")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class LoginSessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    last_refreshed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The session of the token making this call")


class LoginSessionsView(APIView):
    @extend_schema(
        responses={200: LoginSessionSerializer(many=True)},
        description="Your API login sessions (each login with a password, its refreshes "
        "included) that can still refresh. Browser sessions are not listed: log out, or log "
        "out everywhere.",
    )
    def get(self, request: Request) -> Response:
        current = request.auth.get(SESSION_CLAIM) if hasattr(request.auth, "get") else None
        sessions = login_sessions(user=request.user, current=current)
        return Response(LoginSessionSerializer(sessions, many=True).data)


class LoginSessionView(APIView):
    @extend_schema(
        request=None,
        responses={204: None, 404: ErrorSerializer},
        description="Ends that session: its refresh token is refused, its access tokens too, "
        "and its WebSockets close with 4401.",
    )
    def delete(self, request: Request, session_id: str) -> Response:
        login_session_end(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

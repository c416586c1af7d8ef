from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenObtainSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.selectors import user_search
from accounts.services import (
    session_end,
    session_tokens_issue,
    user_password_change,
    user_register,
    user_tokens_revoke,
)
from accounts.twofactor import login_ephemeral, twofactor_enabled
from chatsite.db.replicas import replica_reads
from lifecycle.api import views as lifecycle_views
from messaging.api.serializers import ErrorSerializer
from protection.throttles import LoginThrottle, RegisterThrottle

from .serializers import RegisterSerializer, UserSerializer


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegisterThrottle]

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    # Account deletion lives in the lifecycle app (issue 22); this path is the contract's.
    @lifecycle_views.me_delete_schema
    def delete(self, request: Request) -> Response:
        return lifecycle_views.me_delete(request)


class UserSearchQuerySerializer(serializers.Serializer):
    # DRF's CharField also refuses NUL characters, which PostgreSQL cannot compare with.
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=150,
        default="",
        help_text="Part of a username",
    )


class UserSearchView(APIView):
    @extend_schema(
        parameters=[UserSearchQuerySerializer],
        responses={200: UserSerializer(many=True), 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        query = UserSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        with replica_reads(user_id=request.user.pk):  # a directory tolerates the replica's lag
            users = user_search(query=query.validated_data["search"], exclude_id=request.user.pk)
            data = UserSerializer(users, many=True).data
        return Response(data)


class LoginSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):  # type: ignore[no-untyped-def]
        return session_tokens_issue(user=user)

    def validate(self, attrs: dict) -> dict:
        # The password step (authenticate(), with the login limits) sets self.user.
        TokenObtainSerializer.validate(self, attrs)
        if twofactor_enabled(user=self.user):
            return {"otp_required": True, "ephemeral": login_ephemeral(user=self.user)}
        refresh = self.get_token(self.user)
        return {"refresh": str(refresh), "access": str(refresh.access_token)}


class OtpRequiredSerializer(serializers.Serializer):
    otp_required = serializers.BooleanField()
    ephemeral = serializers.CharField(help_text="for POST /api/auth/token/otp/ with the code")


class LoginView(TokenObtainPairView):
    """simplejwt's token pair, each login a session of its own (logout ends it). The name is
    matched in any case; attempts are limited per IP and per account name in the authentication
    backend every way in shares (accounts.backends, PARLEY_RATE_LIMITS "login" and
    "login_account")."""

    serializer_class = LoginSerializer
    # No throttle here: a throttle would count a second time what the backend counts.
    throttle_classes: list = []

    @extend_schema(
        responses={
            200: PolymorphicProxySerializer(
                component_name="LoginAnswer",
                serializers=[TokenObtainPairSerializer, OtpRequiredSerializer],
                resource_type_field_name=None,
            ),
            401: ErrorSerializer,
        },
        description="The JWT pair; or, for an account with two-factor login, "
        '`{"otp_required": true, "ephemeral": ...}` for `POST /api/auth/token/otp/`.',
    )
    def post(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().post(request, *args, **kwargs)


class RefreshView(TokenRefreshView):
    """A new access token and, with rotation, a new refresh token; the used one is blacklisted."""

    class Answer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(responses={200: Answer, 401: ErrorSerializer})
    def post(self, request: Request, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        return super().post(request, *args, **kwargs)


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class LogoutView(APIView):
    """Needs only the refresh token: a client whose access token expired can still log out."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=LogoutSerializer,
        responses={204: None, 400: ErrorSerializer},
        description="Ends this login session: blacklists the refresh token, refuses the access "
        "tokens minted from it (401) and closes the session's WebSockets with close code 4401 "
        "within seconds. Other devices of the user stay logged in.",
    )
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session_end(refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutEverywhereView(APIView):
    @extend_schema(
        request=None,
        responses={204: None, 401: ErrorSerializer},
        description="Ends every login session of the user, this one included: every refresh "
        "token is blacklisted, every access token issued until now is refused (401) and every "
        "WebSocket of the user is closed with 4401 within seconds.",
    )
    def post(self, request: Request) -> Response:
        user_tokens_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, style={"input_type": "password"})
    new_password = serializers.CharField(max_length=128, style={"input_type": "password"})


class PasswordChangeView(APIView):
    """Limited like logins: the old password is checked, so it could be guessed here."""

    throttle_classes = [LoginThrottle]

    class NewTokens(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={200: NewTokens, 400: ErrorSerializer, 401: ErrorSerializer},
        description="Sets a new password (validated like at registration) after checking the "
        "current one. Every token issued before is refused and every WebSocket of the user, on "
        "every device, is closed with 4401 within seconds; the answer is a new token pair for "
        "the caller, who reconnects with it. Browser sessions end too (Django's session hash).",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refresh = user_password_change(
            user=request.user,
            old_password=serializer.validated_data["old_password"],
            new_password=serializer.validated_data["new_password"],
        )
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.selectors import user_search
from accounts.services import refresh_token_revoke, user_register
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
        users = user_search(query=query.validated_data["search"], exclude_id=request.user.pk)
        return Response(UserSerializer(users, many=True).data)


class LoginView(TokenObtainPairView):
    """simplejwt's token pair, limited per IP (PARLEY_RATE_LIMITS["login"])."""

    throttle_classes = [LoginThrottle]

    @extend_schema(responses={200: TokenObtainPairSerializer, 401: ErrorSerializer})
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
        description="Blacklists the refresh token. Access tokens already issued stay valid "
        "until they expire (JWT_ACCESS_MINUTES); the client should drop them and close its "
        "socket.",
    )
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refresh_token_revoke(refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)

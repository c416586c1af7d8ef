"""Mail address, its verification, and password reset over REST."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.recovery import (
    email_set,
    email_verification_send,
    email_verify,
    password_reset_confirm,
    password_reset_request,
)
from messaging.api.serializers import ErrorSerializer
from protection.throttles import request_ip

from .serializers import (
    EmailSerializer,
    EmailStateSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    TokenSerializer,
)


def _state(user) -> dict:  # type: ignore[no-untyped-def]
    return {"email": user.email, "email_verified": user.email_verified}


class EmailView(APIView):
    @extend_schema(responses={200: EmailStateSerializer})
    def get(self, request: Request) -> Response:
        return Response(_state(request.user))

    @extend_schema(
        request=EmailSerializer,
        responses={200: EmailStateSerializer, 400: ErrorSerializer},
        description='Sets ("" removes) the address, unverified; a verification link is mailed '
        "to it. An address another account has, in any case, is a 400 on `email`.",
    )
    def put(self, request: Request) -> Response:
        serializer = EmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = email_set(user=request.user, email=serializer.validated_data["email"])
        return Response(_state(user))


class EmailVerificationResendView(APIView):
    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request) -> Response:
        email_verification_send(user=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


class EmailVerifyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=TokenSerializer,
        responses={200: EmailStateSerializer, 400: ErrorSerializer},
        description="Confirms the address with the token from the mailed link. A forged or "
        "expired token, or one made for an address the account no longer has, is a 400 on "
        "`token`.",
    )
    def post(self, request: Request) -> Response:
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(_state(email_verify(token=serializer.validated_data["token"])))


class PasswordResetView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []  # limited in the service, per client and per address

    @extend_schema(
        request=PasswordResetSerializer,
        responses={202: None, 429: ErrorSerializer},
        description="Always 202, whether an account has the address or not (no account "
        "enumeration); if one has, a one-time link valid PARLEY_PASSWORD_RESET_TIMEOUT seconds "
        "is mailed to it. Limited per client address and per mail address asked for (429).",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password_reset_request(email=serializer.validated_data["email"], ip=request_ip(request))
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []  # counted like a login attempt in the service

    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={204: None, 400: ErrorSerializer, 429: ErrorSerializer},
        description="Sets the new password with the `uid` and `token` of the mailed link. An "
        "invalid, expired or already used link is a 400 on `token`; a weak password a 400 on "
        "`new_password`. Like a password change, every session and WebSocket of the user ends "
        "(401 / close code 4401). Counted like a login attempt of the account (429).",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password_reset_confirm(**serializer.validated_data, ip=request_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

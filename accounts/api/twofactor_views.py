"""Two-factor login over REST: status, setup, confirm, disable, and the login's code step."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import session_tokens_issue
from accounts.twofactor import (
    login_second_step,
    recovery_codes_left,
    twofactor_confirm,
    twofactor_disable,
    twofactor_enabled,
    twofactor_setup,
)
from messaging.api.serializers import ErrorSerializer
from protection.throttles import request_ip


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, help_text="6 digits, or a recovery code")


class StatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    recovery_codes_left = serializers.IntegerField()


class SetupSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="base32, for typing into an authenticator")
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text="the otpauth URL as a QR code (SVG data: URL)")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField())


class OtpStepSerializer(serializers.Serializer):
    ephemeral = serializers.CharField(max_length=512)
    code = serializers.CharField(max_length=32)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TwoFactorView(APIView):
    @extend_schema(responses={200: StatusSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "enabled": twofactor_enabled(user=request.user),
                "recovery_codes_left": recovery_codes_left(user=request.user),
            }
        )


class TwoFactorSetupView(APIView):
    @extend_schema(
        request=None,
        responses={200: SetupSerializer, 409: ErrorSerializer},
        description="A new TOTP secret (not active until confirmed with a code from it).",
    )
    def post(self, request: Request) -> Response:
        return Response(twofactor_setup(user=request.user))


class TwoFactorConfirmView(APIView):
    throttle_classes: list = []  # each code counts as a login attempt in the service

    @extend_schema(
        request=CodeSerializer,
        responses={200: RecoveryCodesSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
        description="Turns two-factor login on with a code from the new secret; answers the "
        "10 single-use recovery codes, shown only now.",
    )
    def post(self, request: Request) -> Response:
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = twofactor_confirm(
            user=request.user, code=serializer.validated_data["code"], ip=request_ip(request)
        )
        return Response({"recovery_codes": codes})


class TwoFactorDisableView(APIView):
    throttle_classes: list = []

    @extend_schema(
        request=CodeSerializer,
        responses={204: None, 400: ErrorSerializer, 429: ErrorSerializer},
        description="Turns two-factor login off; needs a current code or a recovery code.",
    )
    def post(self, request: Request) -> Response:
        serializer = CodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        twofactor_disable(
            user=request.user, code=serializer.validated_data["code"], ip=request_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OtpLoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []  # counted like a login attempt of the account

    @extend_schema(
        request=OtpStepSerializer,
        responses={200: TokenPairSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
        description="The second login step: the `ephemeral` token from `POST /api/auth/token/` "
        "(valid PARLEY_OTP_STEP_SECONDS) and a code from the authenticator or an unused "
        "recovery code. A wrong, expired or replayed code is a 400 on `code`; attempts count "
        "against the account's login budget (429).",
    )
    def post(self, request: Request) -> Response:
        serializer = OtpStepSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, _ = login_second_step(**serializer.validated_data, ip=request_ip(request))
        refresh = session_tokens_issue(user=user)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})

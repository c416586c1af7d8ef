"""Two-factor login with TOTP (django-otp): enrolment, recovery codes, the second login step.
Every code a login or a disable checks counts against the account's login budget (the same
per-address and per-account limits as passwords, protection.services.login_attempt_check)."""

import base64
import io

import segno
from django.conf import settings
from django.core import signing
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import BadRequest, Conflict
from protection.services import login_attempt_check, login_failures_forget

from .models import User

EPHEMERAL_SALT = "parley.accounts.otp-step"
RECOVERY_CODES = 10
WRONG_CODE = "The code is wrong, expired or already used."


def twofactor_enabled(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def twofactor_setup(*, user: User) -> dict:
    """A new, unconfirmed TOTP secret for the user (replacing an earlier unconfirmed one), as
    secret, otpauth URL and QR code; Conflict when two-factor login is already on."""
    if twofactor_enabled(user=user):
        raise Conflict("Two-factor login is already on: disable it first.", field="code")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    url = device.config_url
    svg = io.BytesIO()
    segno.make(url, error="m").save(svg, kind="svg", scale=4, border=2)
    return {
        "secret": base64.b32encode(device.bin_key).decode(),
        "otpauth_url": url,
        "qr_svg": "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode(),
    }


def twofactor_confirm(*, user: User, code: str, ip: str | None) -> list[str]:
    """Turns two-factor login on when the code matches the secret from setup; returns the 10
    single-use recovery codes (shown once)."""
    login_attempt_check(ip=ip, username=user.username)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        raise BadRequest("Start with setup: there is no secret to confirm.", field="code")
    if not device.verify_token(code.strip()):
        raise BadRequest(WRONG_CODE, field="code")
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        StaticDevice.objects.filter(user=user).delete()
        static = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
        StaticToken.objects.bulk_create([StaticToken(device=static, token=c) for c in codes])
    login_failures_forget(username=user.username)
    return codes


def _verified_device(user: User, code: str) -> TOTPDevice | StaticDevice | None:
    """The device a code is valid for (an authenticator code or an unused recovery code, which
    is used up); None when it is wrong or replayed."""
    code = code.strip().replace(" ", "")
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):
            return device
    for device in StaticDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):
            return device
    return None


def twofactor_disable(*, user: User, code: str, ip: str | None) -> None:
    """Turns two-factor login off, given a valid code (authenticator or recovery)."""
    login_attempt_check(ip=ip, username=user.username)
    if _verified_device(user, code) is None:
        raise BadRequest(WRONG_CODE, field="code")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    login_failures_forget(username=user.username)


def login_ephemeral(*, user: User) -> str:
    """A short-lived token proving the password step, for the code step (not a session)."""
    return signing.dumps({"u": user.pk, "g": user.token_generation}, salt=EPHEMERAL_SALT)


def login_second_step(*, ephemeral: str, code: str, ip: str | None) -> tuple[User, object]:
    """The user whose password step the ephemeral token proves (PARLEY_OTP_STEP_SECONDS), if
    the code is valid and unused; counted like a login attempt of that account."""
    try:
        claim = signing.loads(
            ephemeral, salt=EPHEMERAL_SALT, max_age=settings.PARLEY_OTP_STEP_SECONDS
        )
        user = User.objects.get(pk=claim["u"], is_active=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError) as exc:
        raise BadRequest(
            "The login step expired or is invalid: log in again.", field="ephemeral"
        ) from exc
    if claim.get("g") != user.token_generation:
        raise BadRequest("The login step expired or is invalid: log in again.", field="ephemeral")
    login_attempt_check(ip=ip, username=user.username)
    device = _verified_device(user, code)
    if device is None:
        raise BadRequest(WRONG_CODE, field="code")
    login_failures_forget(username=user.username)
    return user, device

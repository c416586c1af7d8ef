"""Mail addresses, their verification and password reset: the writes. Mails leave through the
`mail_send` task after commit; links point at PARLEY_PUBLIC_URL."""

from functools import partial

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from core.errors import BadRequest
from protection.services import login_attempt_check, password_reset_attempt_check

from .models import User
from .services import user_tokens_revoke
from .tasks import mail_send

VERIFY_SALT = "parley.accounts.email-verify"
EMAIL_TAKEN = "That email address is already in use."
BAD_RESET_LINK = "This reset link is invalid, expired or already used: ask for a new one."
BAD_VERIFY_LINK = "This verification link is invalid or expired: ask for a new one."


def email_normalize(value: str) -> str:
    """The address trimmed with its domain in lower case, or BadRequest on `email`."""
    value = value.strip()
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise BadRequest("Enter a valid email address.", field="email") from exc
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_in_use(*, email: str, exclude_id: int | None = None) -> bool:
    users = User.objects.filter(email__iexact=email)
    if exclude_id is not None:
        users = users.exclude(pk=exclude_id)
    return users.exists()


def _send(to: str, subject: str, body: str) -> None:
    transaction.on_commit(partial(mail_send.delay, to, subject, body), robust=True)


def email_set(*, user: User, email: str) -> User:
    """Sets (or with "" removes) the user's address, unverified, unique in any case (the
    database decides races); a verification link goes to a new address after commit."""
    email = email_normalize(email) if email.strip() else ""
    if email.lower() == user.email.lower() and email:
        return user
    try:
        with transaction.atomic():
            user.email = email
            user.email_verified = False
            user.save(update_fields=["email", "email_verified"])
            if email:
                email_verification_send(user=user)
    except IntegrityError as exc:
        raise BadRequest(EMAIL_TAKEN, field="email") from exc
    return user


def email_verification_send(*, user: User) -> None:
    """Mails a signed link (valid PARLEY_EMAIL_VERIFY_MAX_AGE) for the user's current address."""
    if not user.email or user.email_verified:
        return
    token = signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=VERIFY_SALT)
    link = f"{settings.PARLEY_PUBLIC_URL}/email/verify/?token={token}"
    _send(
        user.email,
        "Confirm your email address for Parley",
        f"Hello {user.username},\n\nconfirm that this address is yours by opening\n\n{link}\n\n"
        "If you did not give it to Parley, ignore this mail.\n",
    )


def email_verify(*, token: str) -> User:
    """Marks the address the link was made for as verified, if it is still the user's;
    BadRequest on `token` when the link is forged, expired or for an older address."""
    try:
        claim = signing.loads(token, salt=VERIFY_SALT, max_age=settings.PARLEY_EMAIL_VERIFY_MAX_AGE)
        user = User.objects.get(pk=claim["u"], is_active=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError) as exc:
        raise BadRequest(BAD_VERIFY_LINK, field="token") from exc
    if user.email.lower() != claim.get("e"):
        raise BadRequest(BAD_VERIFY_LINK, field="token")
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    return user


def password_reset_request(*, email: str, ip: str | None) -> None:
    """Mails a one-time reset link to the active account with this address, if there is one;
    says nothing either way (no account enumeration). Limited per client address and per mail
    address asked for."""
    password_reset_attempt_check(ip=ip, email=email)
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None or not user.email:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = f"{settings.PARLEY_PUBLIC_URL}/password/reset/{uid}/{token}/"
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    with transaction.atomic():
        _send(
            user.email,
            "Reset your Parley password",
            f"Hello {user.username},\n\nsomeone (hopefully you) asked to reset your Parley "
            f"password. Open this link within {minutes} minutes to choose a new one:\n\n"
            f"{link}\n\nThe link works once. If you did not ask, ignore this mail: your "
            "password stays as it is.\n",
        )


def password_reset_confirm(*, uid: str, token: str, new_password: str, ip: str | None) -> User:
    """Sets a new, validated password when the link's token is valid (unexpired, unused: it
    dies with the password it was made for), counted like a login attempt of that account;
    every session and socket of the user ends (4401), as after a password change."""
    try:
        pk = int(urlsafe_base64_decode(uid).decode())
        user = User.objects.get(pk=pk, is_active=True)
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, User.DoesNotExist):
        user = None
    # The same per-address and per-account budget as every other way in (accounts.backends).
    login_attempt_check(ip=ip, username=user.username if user is not None else f"uid:{uid}")
    if user is None or not default_token_generator.check_token(user, token):
        raise BadRequest(BAD_RESET_LINK, field="token")
    try:
        validate_password(new_password, user=user)
    except DjangoValidationError as exc:
        raise BadRequest(" ".join(exc.messages), field="new_password") from exc
    with transaction.atomic():
        user.set_password(new_password)
        fields = ["password"]
        if not user.email_verified:
            # Following the link proved the address is theirs.
            user.email_verified = True
            fields.append("email_verified")
        user.save(update_fields=fields)
        user_tokens_revoke(user=user)
    return user

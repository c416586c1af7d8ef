from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.events import public_user
from accounts.models import User
from accounts.recovery import EMAIL_TAKEN, email_in_use, email_normalize
from accounts.selectors import user_card
from accounts.usernames import username_normalize, username_policy_errors
from core.errors import BadRequest


class UserSerializer(serializers.Serializer):
    """A user as others see them (accounts.events.PublicUser)."""

    id = serializers.IntegerField(read_only=True)
    # Declared, not derived from the model: the model validator's `\w` means any Unicode letter
    # in Python but only ASCII in the OpenAPI (ECMA) pattern it would be documented with.
    username = serializers.CharField(max_length=150, read_only=True)
    display_name = serializers.CharField(
        read_only=True, help_text="What to show; the username when none is set"
    )
    avatar_url = serializers.CharField(
        read_only=True, allow_null=True, help_text="The 256 px avatar; null: show initials"
    )
    is_bot = serializers.BooleanField(
        read_only=True,
        help_text='A bot account (integrations.models.Bot): shown with a "bot" badge',
    )

    def to_representation(self, instance: User) -> dict:
        return {
            **public_user(
                id=instance.pk,
                username=instance.username,
                display_name=instance.display_name,
                avatar_key=instance.avatar_key,
            ),
            "is_bot": hasattr(instance, "bot"),
        }


class ProfileSerializer(UserSerializer):
    """The caller's own profile (accounts.events.UserCard)."""

    avatar_small_url = serializers.CharField(read_only=True, allow_null=True)
    status_text = serializers.CharField(read_only=True)
    status_emoji = serializers.CharField(read_only=True)
    status_expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    timezone = serializers.CharField(read_only=True)

    def to_representation(self, instance: User) -> dict:
        return {**user_card(user=instance), "is_bot": hasattr(instance, "bot")}


class ProfileUpdateSerializer(serializers.Serializer):
    """Only the fields sent change. Text is trimmed by the service, which checks it."""

    display_name = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=256,
        help_text="1 to 64 characters once trimmed, any script; null clears it (the username "
        "shows)",
    )
    status_text = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=1024
    )
    status_emoji = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=256
    )
    status_expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the status clears itself; null: never"
    )
    timezone = serializers.CharField(
        required=False, max_length=64, help_text="An IANA name, e.g. Europe/Paris"
    )


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )
    email = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=254,
        write_only=True,
        help_text="Optional; unique in any case. A verification link is mailed to it.",
    )

    def validate_email(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            value = email_normalize(value)
        except BadRequest as exc:
            raise serializers.ValidationError(exc.detail) from exc
        if email_in_use(email=value):
            raise serializers.ValidationError(EMAIL_TAKEN)
        return value

    def validate_username(self, value: str) -> str:
        """The NFKC form of the name, if it follows the policy (accounts/usernames.py) and no
        account has it in any case (the database's unique index decides races)."""
        value = username_normalize(value)
        errors = username_policy_errors(value)
        if errors:
            raise serializers.ValidationError(errors)
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate(self, attrs: dict) -> dict:
        try:
            validate_password(attrs["password"], user=User(username=attrs["username"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class EmailSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, allow_blank=True)


class EmailStateSerializer(serializers.Serializer):
    email = serializers.CharField(help_text='"" when none is set')
    email_verified = serializers.BooleanField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=1024)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=128, style={"input_type": "password"})

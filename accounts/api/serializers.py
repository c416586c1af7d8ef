from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User
from accounts.usernames import username_normalize, username_policy_errors


class UserSerializer(serializers.ModelSerializer):
    # Declared, not derived from the model: the model validator's `\w` means any Unicode letter
    # in Python but only ASCII in the OpenAPI (ECMA) pattern it would be documented with.
    username = serializers.CharField(max_length=150, read_only=True)
    is_bot = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "is_bot"]

    def get_is_bot(self, user: User) -> bool:
        """A bot account (integrations.models.Bot): shown with a "bot" badge."""
        return hasattr(user, "bot")


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )

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

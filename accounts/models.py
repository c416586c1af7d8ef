from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import CharField, Q, Value
from django.db.models.functions import Lower


class ParleyUserManager(UserManager):
    def get_by_natural_key(self, username: str | None) -> "User":
        """The account with this name in any case, as the unique Lower(username) index compares
        names (so `createsuperuser ALICE` says the name is taken when `alice` exists)."""
        wanted = Lower(Value(username, output_field=CharField()))
        return self.annotate(name_lower=Lower("username")).get(name_lower=wanted)


class User(AbstractUser):
    """A Parley user. Custom from the first migration so fields can be added later."""

    # Tokens carry the generation they were issued in; revoking them all (a password change,
    # "log out everywhere") moves to the next one, and older tokens are refused.
    token_generation = models.PositiveIntegerField(default=0)

    # The profile (accounts/profiles.py). The username stays the unique handle; the display
    # name is what people read, in any script ("" shows the username).
    display_name = models.CharField(max_length=64, blank=True, default="")
    # The key naming the current avatar's files (Avatar); "" when there is none. A new upload
    # gets a new key, so avatar URLs can be cached forever.
    avatar_key = models.CharField(max_length=32, blank=True, default="")
    status_text = models.CharField(max_length=140, blank=True, default="")
    status_emoji = models.CharField(max_length=32, blank=True, default="")
    status_expires_at = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # `email` (AbstractUser's) is optional and unique in any case when set; a change clears
    # the verification (accounts/email.py).
    email_verified = models.BooleanField(default=False)

    objects = ParleyUserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # One account per name whatever its case: enforced here, so two registrations
            # racing with `alice` and `ALICE` cannot both succeed (accounts/usernames.py).
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_lower_unique",
                violation_error_message="A user with that username already exists.",
            ),
            # One account per address whatever its case; "" is no address.
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email=""),
                name="accounts_user_email_lower_unique",
                violation_error_message="That email address is already in use.",
            ),
        ]


class Avatar(models.Model):
    """A user's avatar, resized and re-encoded (EXIF and all other metadata dropped). Kept in
    the database so every server process serves it without shared storage; 256 px is a few
    dozen kilobytes."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="avatar")
    key = models.CharField(max_length=32, unique=True)
    large = models.BinaryField()  # 256 x 256 WebP
    small = models.BinaryField()  # 64 x 64 WebP
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"avatar of user {self.user_id}"

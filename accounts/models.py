from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A Parley user. Custom from the first migration so fields can be added later."""

    # Tokens carry the generation they were issued in; revoking them all (a password change,
    # "log out everywhere") moves to the next one, and older tokens are refused.
    token_generation = models.PositiveIntegerField(default=0)

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
        ]

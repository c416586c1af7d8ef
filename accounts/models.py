from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import CharField, Value
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
        ]

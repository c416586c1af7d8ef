from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A Parley user. Custom from the first migration so fields can be added later."""

    # Tokens carry the generation they were issued in; revoking them all (a password change,
    # "log out everywhere") moves to the next one, and older tokens are refused.
    token_generation = models.PositiveIntegerField(default=0)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

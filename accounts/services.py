from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from .models import User


def user_register(*, username: str, password: str) -> User:
    """Creates an active user with a validated password; the caller has checked the username."""
    candidate = User(username=username)
    validate_password(password, user=candidate)
    with transaction.atomic():
        candidate.set_password(password)
        candidate.save()
    return candidate

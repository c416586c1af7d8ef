from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from integrations.authentication import insufficient_scope
from integrations.models import ApiToken


class AdminScope(BasePermission):
    """Signed in; with an API token, only one carrying the `admin` scope."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if isinstance(request.auth, ApiToken) and "admin" not in request.auth.scopes:
            raise insufficient_scope("admin")
        return True

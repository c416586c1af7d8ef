from django.db.models import QuerySet

from .models import User

USER_SEARCH_LIMIT = 20


def user_search(*, query: str, exclude_id: int | None = None) -> QuerySet[User]:
    """Active users whose username starts with (or, failing that, contains) the query."""
    users = User.objects.filter(is_active=True, username__icontains=query.strip())
    if exclude_id is not None:
        users = users.exclude(pk=exclude_id)
    return users.order_by("username")[:USER_SEARCH_LIMIT]

"""Creating a group with many members at once (a mass add): every member is told, and the
cost of telling them does not grow with each member (issue 15's herds: a group created with
5,000 members ran one summary query per member inside the request, on the server's one
database thread that every socket's hops share)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from groups.services import group_create
from tests.factories import make_user


def _create_counting_queries(owner: User, members: list[User], name: str, on_commit) -> int:
    """Queries of the creation and of what runs after its commit (the members being told)."""
    with CaptureQueriesContext(connection) as queries, on_commit(execute=True):
        group_create(creator=owner, name=name, member_ids=[m.pk for m in members])
    return len(queries.captured_queries)


@pytest.mark.django_db
def test_creating_a_group_costs_the_same_queries_for_3_or_30_members(
    django_capture_on_commit_callbacks,
):
    owner = make_user()
    few = [make_user() for _ in range(3)]
    many = [make_user() for _ in range(30)]

    with_few = _create_counting_queries(owner, few, "few", django_capture_on_commit_callbacks)
    with_many = _create_counting_queries(owner, many, "many", django_capture_on_commit_callbacks)

    assert with_many == with_few

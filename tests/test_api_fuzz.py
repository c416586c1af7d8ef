"""The REST API fuzzed from its own OpenAPI schema: no 5xx, every response matches the schema.

Schemathesis generates requests for every operation in /api/schema/ (valid and invalid ones)
and checks each response: not a server error, a documented status, a body and headers that
match the documented schema. (Its pytest plugin is not used: it does not run on pytest 9.)
"""

import os
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.specs.openapi import checks

from accounts.selectors import GENERATION_CLAIM
from tests.factories import make_direct, make_group, make_user

pytestmark = pytest.mark.django_db

# Not about correctness of responses: a schema-valid but meaningless value (a refresh token
# "abc") is rightly a 400, and DRF's accepting "5" for an integer is leniency, not a fault.
LENIENCY_CHECKS = [checks.positive_data_acceptance, checks.negative_data_rejection]


@pytest.fixture
def wsgi_app():
    """The real WSGI application, minus closing the connection after each request (as Django's
    test client does): the test's transaction lives on that connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_operation_conforms_to_the_schema(wsgi_app):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    make_direct(alice, bob)
    make_group(alice, bob, carol)
    make_direct(bob, carol)  # one alice may not see

    def headers() -> dict[str, str]:
        # A token of alice's current generation for every request: a fuzzed
        # `POST /api/auth/logout/all/` revokes every earlier one (each later operation was
        # then answered 401). It outlives the run: on a loaded machine the run takes longer
        # than the 10-minute access-token lifetime.
        alice.refresh_from_db(fields=["token_generation"])
        token = AccessToken.for_user(alice)
        token.set_exp(lifetime=timedelta(hours=2))
        token[GENERATION_CLAIM] = alice.token_generation
        return {"Authorization": f"Bearer {token}"}

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "30")),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers(), excluded_checks=LENIENCY_CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:3000]
    assert operations >= 8
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


@pytest.mark.django_db
def test_home_page_is_served(client):
    # Strangers land on the login page of the browser UI.
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/login/", 302)]
    assert b"Parley" in response.content


@pytest.mark.django_db
def test_static_files_are_served(client):
    response = client.get("/static/parley/base.css")
    assert response.status_code == 200

"""Seeds the provider (run in its environment by the test): users and the Parley client."""

import sys


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from oauth2_provider.models import Application

    client_id, client_secret, redirect_uris = sys.argv[1:4]
    for spec in sys.argv[4:]:
        username, password, email, verified = spec.split(":")
        User.objects.create_user(
            username=username,
            password=password,
            email=email,
            last_name="" if verified == "1" else "unverified",
        )
    Application.objects.create(
        name="parley",
        client_id=client_id,
        client_secret=client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uris,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )


if __name__ == "__main__":
    main()

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from .signals import browser_logged_out

        user_logged_out.connect(browser_logged_out, dispatch_uid="accounts.browser_logged_out")

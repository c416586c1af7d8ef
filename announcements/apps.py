from django.apps import AppConfig


class AnnouncementsConfig(AppConfig):
    name = "announcements"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.models import User

        from .services import announcement_enroll_on_save

        post_save.connect(
            announcement_enroll_on_save, sender=User, dispatch_uid="announcement_enroll"
        )

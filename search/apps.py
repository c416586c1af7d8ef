from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SearchConfig(AppConfig):
    name = "search"

    def ready(self) -> None:
        from .schema import index_ensure_after_migrate

        # On SQLite, Django rebuilds a table to alter it, which drops its triggers: after every
        # migrate the search index's triggers are put back (and the index rebuilt if they were
        # missing), so a later migration of messages cannot silently stop search from updating.
        post_migrate.connect(index_ensure_after_migrate, sender=self)

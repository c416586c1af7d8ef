"""The message search index: on PostgreSQL a generated tsvector column and a GIN index on the
partitioned message table; on SQLite an FTS5 table kept in sync by triggers (search/schema.py)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from search.schema import index_create

    index_create(schema_editor.connection)


def backwards(apps, schema_editor):
    from search.schema import index_drop

    index_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_edits_system_messages_announcement"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]

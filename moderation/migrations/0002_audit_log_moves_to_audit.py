from django.db import migrations


def content_type_moves(apps, schema_editor):
    """Permissions and admin history of the audit log follow it to the audit app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="audit", model="auditlogentry").exists():
        ContentType.objects.filter(app_label="moderation", model="auditlogentry").update(
            app_label="audit"
        )


def content_type_returns(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="moderation", model="auditlogentry").exists():
        ContentType.objects.filter(app_label="audit", model="auditlogentry").update(
            app_label="moderation"
        )


class Migration(migrations.Migration):
    """The audit log became an app of its own (audit/): the model leaves this app's state,
    its table stays where it is (audit.AuditLogEntry uses it)."""

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("moderation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditLogEntry")],
            database_operations=[],
        ),
        migrations.RunPython(content_type_moves, content_type_returns),
    ]

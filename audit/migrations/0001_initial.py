import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("moderation", "0002_audit_log_moves_to_audit"),
    ]

    # The table exists (moderation created it): only the state moves here.
    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.CreateModel(
            name='AuditLogEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_name', models.CharField(max_length=150)),
                ('action', models.CharField(choices=[('user_ban', 'User Ban'), ('user_unban', 'User Unban'), ('message_delete', 'Message Delete'), ('member_add', 'Member Add'), ('member_remove', 'Member Remove'), ('member_role', 'Member Role'), ('ownership_transfer', 'Ownership Transfer'), ('group_update', 'Group Update'), ('broadcast_post', 'Broadcast Post')], max_length=32)),
                ('target_type', models.CharField(max_length=32)),
                ('target_id', models.CharField(max_length=64)),
                ('target', models.CharField(max_length=255)),
                ('reason', models.TextField(blank=True)),
                ('via', models.CharField(choices=[('admin', 'Admin'), ('api', 'Api'), ('websocket', 'Websocket')], max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('actor', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'audit log entry',
                'verbose_name_plural': 'audit log',
                'ordering': ['-created_at', '-id'],
                'db_table': 'moderation_auditlogentry',
            },
        ),
            ],
        ),
    ]

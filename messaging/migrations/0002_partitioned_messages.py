"""Message storage at scale: on PostgreSQL the message table becomes a table partitioned by
month on its snowflake id, with partitions for the current and next months; uniqueness that must
span partitions moves to the small non-partitioned messaging_message_key table. On SQLite the
message table stays a plain table: only the index and constraint changes apply."""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from messaging import partitions

OLD = "messaging_message_unpartitioned"


class OnSqlite(migrations.operations.base.Operation):
    """Runs the wrapped operation's database change on SQLite only (state is handled by the
    surrounding SeparateDatabaseAndState)."""

    reduces_to_sql = False

    def __init__(self, operation):
        self.operation = operation

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"On SQLite only: {self.operation.describe()}"


def partition_forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    conversation = apps.get_model("messaging", "Conversation")._meta.db_table
    user = apps.get_model(*settings.AUTH_USER_MODEL.split("."))._meta.db_table
    execute = schema_editor.execute
    execute(f"ALTER TABLE messaging_message RENAME TO {OLD}")
    execute(f"ALTER INDEX messaging_message_pkey RENAME TO {OLD}_pkey")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT message_unique_seq")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT message_unique_client_id")
    execute(
        "CREATE TABLE messaging_message ("
        " id bigint NOT NULL PRIMARY KEY,"
        " seq bigint NOT NULL,"
        " client_msg_id varchar(64) NULL,"
        " body text NOT NULL,"
        " created_at timestamp with time zone NOT NULL,"
        f" conversation_id bigint NOT NULL REFERENCES {conversation} (id)"
        "  DEFERRABLE INITIALLY DEFERRED,"
        f" sender_id bigint NULL REFERENCES {user} (id) DEFERRABLE INITIALLY DEFERRED"
        ") PARTITION BY RANGE (id)"
    )
    execute("CREATE INDEX message_conv_seq_idx ON messaging_message (conversation_id, seq)")
    execute(
        "CREATE INDEX message_sender_client_idx ON messaging_message (sender_id, client_msg_id)"
    )
    # Partitions for every month that already holds messages, and the current and next months.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {OLD}")  # noqa: S608
        low, high = cursor.fetchone()
    from messaging.ids import message_id_time

    current = partitions.month_start(timezone.now())
    month = partitions.month_start(message_id_time(low)) if low is not None else current
    last = max(
        partitions.add_months(current, 1),
        partitions.month_start(message_id_time(high)) if high is not None else current,
    )
    while month <= last:
        execute(partitions.create_partition_sql(month))
        month = partitions.add_months(month, 1)
    execute(
        "INSERT INTO messaging_message (id, seq, client_msg_id, body, created_at,"
        " conversation_id, sender_id) SELECT id, seq, client_msg_id, body, created_at,"
        f" conversation_id, sender_id FROM {OLD}"
    )
    execute(f"DROP TABLE {OLD}")


def partition_backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    conversation = apps.get_model("messaging", "Conversation")._meta.db_table
    user = apps.get_model(*settings.AUTH_USER_MODEL.split("."))._meta.db_table
    execute = schema_editor.execute
    execute(f"CREATE TABLE {OLD} (LIKE messaging_message)")  # columns and NOT NULLs
    execute(f"INSERT INTO {OLD} SELECT * FROM messaging_message")  # noqa: S608
    execute("DROP TABLE messaging_message CASCADE")
    execute(f"ALTER TABLE {OLD} RENAME TO messaging_message")
    execute("ALTER TABLE messaging_message ADD PRIMARY KEY (id)")
    execute(
        "ALTER TABLE messaging_message ADD FOREIGN KEY (conversation_id)"
        f" REFERENCES {conversation} (id) DEFERRABLE INITIALLY DEFERRED"
    )
    execute(
        "ALTER TABLE messaging_message ADD FOREIGN KEY (sender_id)"
        f" REFERENCES {user} (id) DEFERRABLE INITIALLY DEFERRED"
    )
    execute("CREATE INDEX ON messaging_message (conversation_id)")
    execute("CREATE INDEX ON messaging_message (sender_id)")
    execute(
        "ALTER TABLE messaging_message ADD CONSTRAINT message_unique_seq"
        " UNIQUE (conversation_id, seq)"
    )
    execute(
        "ALTER TABLE messaging_message ADD CONSTRAINT message_unique_client_id"
        " UNIQUE (sender_id, client_msg_id)"
    )


def keys_forwards(apps, schema_editor):
    """Every existing message gets its uniqueness key."""
    schema_editor.execute(
        "INSERT INTO messaging_message_key (message_id, conversation_id, seq, sender_id,"
        " client_msg_id) SELECT id, conversation_id, seq, sender_id, client_msg_id"
        " FROM messaging_message"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="muted",
            field=models.BooleanField(default=False),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="message", name="message_unique_seq"),
                migrations.RemoveConstraint(model_name="message", name="message_unique_client_id"),
                migrations.AddIndex(
                    model_name="message",
                    index=models.Index(fields=["conversation", "seq"], name="message_conv_seq_idx"),
                ),
                migrations.AddIndex(
                    model_name="message",
                    index=models.Index(
                        fields=["sender", "client_msg_id"], name="message_sender_client_idx"
                    ),
                ),
            ],
            database_operations=[
                OnSqlite(
                    migrations.RemoveConstraint(model_name="message", name="message_unique_seq")
                ),
                OnSqlite(
                    migrations.RemoveConstraint(
                        model_name="message", name="message_unique_client_id"
                    )
                ),
                OnSqlite(
                    migrations.AddIndex(
                        model_name="message",
                        index=models.Index(
                            fields=["conversation", "seq"], name="message_conv_seq_idx"
                        ),
                    )
                ),
                OnSqlite(
                    migrations.AddIndex(
                        model_name="message",
                        index=models.Index(
                            fields=["sender", "client_msg_id"], name="message_sender_client_idx"
                        ),
                    )
                ),
                migrations.RunPython(partition_forwards, partition_backwards),
            ],
        ),
        migrations.CreateModel(
            name="MessageKey",
            fields=[
                ("message_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("conversation_id", models.BigIntegerField()),
                ("seq", models.BigIntegerField()),
                ("sender_id", models.BigIntegerField(null=True)),
                ("client_msg_id", models.CharField(max_length=64, null=True)),
            ],
            options={
                "db_table": "messaging_message_key",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("conversation_id", "seq"), name="message_unique_seq"
                    ),
                    models.UniqueConstraint(
                        fields=("sender_id", "client_msg_id"), name="message_unique_client_id"
                    ),
                ],
            },
        ),
        migrations.RunPython(keys_forwards, migrations.RunPython.noop),
    ]

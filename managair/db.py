"""Database helpers shared by the apps' migrations."""

from django.db import migrations


class RunSQLOnPostgres(migrations.RunSQL):
    """Raw SQL for rules only PostgreSQL can hold (exclusion constraints,
    triggers, BRIN indexes). On SQLite the migration records itself as applied
    and the models' ``clean()`` methods enforce the same rules."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

from django.db import migrations

from managair.db import RunSQLOnPostgres


class Migration(migrations.Migration):
    """Let autovacuum summarize the BRIN index on sample timestamps as block
    ranges fill. Unsummarized ranges match every query, and the planner,
    which cannot tell, then picked the BRIN index for month windows and read
    the whole table (seen in the air-quality and time-series benchmarks)."""

    dependencies = [("core", "0004_address_created_by")]

    operations = [
        RunSQLOnPostgres(
            "ALTER INDEX sample_timestamp_brin SET (autosummarize = on);",
            "ALTER INDEX sample_timestamp_brin RESET (autosummarize);",
        )
    ]

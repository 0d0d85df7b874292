"""Rules only PostgreSQL can hold; on SQLite ``Installation.clean()`` checks them."""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

from managair.db import RunSQLOnPostgres

NO_OVERLAP = """
ALTER TABLE core_installation ADD CONSTRAINT installation_no_overlap_per_node
    EXCLUDE USING gist (node_id WITH =, tstzrange(from_time, to_time, '[)') WITH &&);
"""

SAME_ORGANIZATION = """
CREATE FUNCTION core_installation_same_organization() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    node_owner bigint;
    room_owner bigint;
BEGIN
    SELECT owner_id INTO node_owner FROM core_node WHERE id = NEW.node_id;
    SELECT s.operator_id INTO room_owner
        FROM core_room r JOIN core_site s ON s.id = r.site_id WHERE r.id = NEW.room_id;
    IF node_owner IS DISTINCT FROM room_owner THEN
        RAISE EXCEPTION 'installation % of node % in room %: node and room belong to different organizations',
            NEW.id, NEW.node_id, NEW.room_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'installation_same_organization';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER installation_same_organization
    BEFORE INSERT OR UPDATE OF node_id, room_id ON core_installation
    FOR EACH ROW EXECUTE FUNCTION core_installation_same_organization();
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        RunSQLOnPostgres(
            NO_OVERLAP,
            "ALTER TABLE core_installation DROP CONSTRAINT installation_no_overlap_per_node;",
        ),
        RunSQLOnPostgres(
            SAME_ORGANIZATION,
            "DROP TRIGGER installation_same_organization ON core_installation;"
            "DROP FUNCTION core_installation_same_organization();",
        ),
        RunSQLOnPostgres(
            "CREATE INDEX sample_timestamp_brin ON core_sample USING brin (timestamp);",
            "DROP INDEX sample_timestamp_brin;",
        ),
    ]

"""Keep the same-organization rule when the other end moves.

Migration 0002 checks an installation when it is written. A node changing
owner, a site changing operator or a room moving to another site would still
leave installations whose node and room belong to different organizations,
and each organization would see the other's data. These triggers refuse such
a change while any installation (past or present) ties the two together:
history stays attributable to one organization.
"""

from django.db import migrations

from managair.db import RunSQLOnPostgres

# One trigger function per table: PL/pgSQL types NEW per table, so a shared
# function cannot compare NEW.id with both uuid and bigint columns.
TRIGGER = """
CREATE FUNCTION core_{table}_keeps_installations() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    offending bigint;
BEGIN
    SELECT i.id INTO offending
        FROM core_installation i
        JOIN core_node n ON n.id = i.node_id
        JOIN core_room r ON r.id = i.room_id
        JOIN core_site s ON s.id = r.site_id
        WHERE {match} = NEW.id AND n.owner_id <> s.operator_id
        LIMIT 1;
    IF offending IS NOT NULL THEN
        RAISE EXCEPTION 'core_{table} %: installation % would tie node and room of different organizations',
            NEW.id, offending
            USING ERRCODE = 'check_violation', CONSTRAINT = 'installation_same_organization';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER {table}_keeps_installations AFTER UPDATE OF {column} ON core_{table}
    FOR EACH ROW WHEN (OLD.{column} IS DISTINCT FROM NEW.{column})
    EXECUTE FUNCTION core_{table}_keeps_installations();
"""

MOVES = [("node", "owner_id", "i.node_id"), ("site", "operator_id", "r.site_id"), ("room", "site_id", "i.room_id")]



class Migration(migrations.Migration):
    dependencies = [("core", "0002_postgres_rules")]

    operations = [
        RunSQLOnPostgres(
            TRIGGER.format(table=table, column=column, match=match),
            f"DROP TRIGGER {table}_keeps_installations ON core_{table};"
            f"DROP FUNCTION core_{table}_keeps_installations();",
        )
        for table, column, match in MOVES
    ]

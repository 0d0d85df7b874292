"""The functions lists call for each row, made to touch the partitioned
samples table (migration 0008) as little as they can: a cached plan locks
every partition each time it runs, whatever it then prunes.

``core_latest_sample(node, since, until)``: a node's newest sample in
[since, until) as a JSON array (id, Unix seconds, CO2, temperature,
humidity, status), for the ``latest_sample`` of node and installation lists.

A function, like ``core_count_samples``, because its statements are planned
once per connection: the same search written as subqueries of a list query
is planned again for every request, over every month partition of the
samples table. It looks where the newest sample is:

1. among the samples of the last 35 days and of every hour the summaries are
   not complete for yet (a node that reports);
2. else in the latest hour holding samples, which the hourly summaries name
   (before their horizon every hour with samples has a row): one summary
   probe and one month's index;
3. else (that hour's samples were deleted since) in the whole window.

``core_count_samples`` (migration 0006) counts as before, but reads samples
only for what the summaries cannot answer: stale hours when there are any,
the partial hour at the start when there is one.
"""

import importlib

from django.db import migrations

from managair.db import RunSQLOnPostgres

LATEST_SAMPLE = """
CREATE FUNCTION core_latest_sample(node uuid, since timestamptz, until timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    recent timestamptz := least(
        now() - interval '35 days',
        coalesce((SELECT complete_before FROM core_summaryhorizon WHERE id = 1), '-infinity')
    );
    latest_hour timestamptz;
    found_sample jsonb;
BEGIN
    SELECT jsonb_build_array(id, floor(date_part('epoch', "timestamp"))::bigint, co2_ppm, temperature_celsius,
                             rel_humidity_percent, measurement_status)
        INTO found_sample FROM core_sample
        WHERE node_id = node AND "timestamp" >= greatest(since, recent) AND "timestamp" < until
        ORDER BY "timestamp" DESC LIMIT 1;
    IF found_sample IS NOT NULL THEN
        RETURN found_sample;
    END IF;
    SELECT hour INTO latest_hour FROM core_hourlysummary
        WHERE node_id = node AND hour < until
          AND hour >= date_bin('1 hour', since, '2000-01-01 00:00:00+00'::timestamptz)
        ORDER BY hour DESC LIMIT 1;
    IF latest_hour IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT jsonb_build_array(id, floor(date_part('epoch', "timestamp"))::bigint, co2_ppm, temperature_celsius,
                             rel_humidity_percent, measurement_status)
        INTO found_sample FROM core_sample
        WHERE node_id = node AND "timestamp" >= greatest(since, latest_hour)
          AND "timestamp" < least(until, latest_hour + interval '1 hour')
        ORDER BY "timestamp" DESC LIMIT 1;
    IF found_sample IS NOT NULL THEN
        RETURN found_sample;
    END IF;
    SELECT jsonb_build_array(id, floor(date_part('epoch', "timestamp"))::bigint, co2_ppm, temperature_celsius,
                             rel_humidity_percent, measurement_status)
        INTO found_sample FROM core_sample
        WHERE node_id = node AND "timestamp" >= since AND "timestamp" < until
        ORDER BY "timestamp" DESC LIMIT 1;
    RETURN found_sample;
END $$;
"""


COUNT_SAMPLES = """
CREATE OR REPLACE FUNCTION core_count_samples(node uuid, since timestamptz, until timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    full_start timestamptz := date_bin('1 hour', since, '2000-01-01 00:00:00+00'::timestamptz);
    full_end timestamptz := date_bin('1 hour', until, '2000-01-01 00:00:00+00'::timestamptz);
    horizon timestamptz := coalesce((SELECT complete_before FROM core_summaryhorizon WHERE id = 1), '-infinity');
    summarised_end timestamptz;
    any_stale boolean;
    total bigint;
    part bigint;
BEGIN
    IF full_start < since THEN
        full_start := full_start + interval '1 hour';
    END IF;
    IF full_start >= full_end OR full_start >= horizon THEN
        SELECT count(*) INTO total FROM core_sample
            WHERE node_id = node AND "timestamp" >= since AND "timestamp" < until;
        RETURN total;
    END IF;
    summarised_end := least(full_end, horizon);
    SELECT coalesce(sum(sample_count) FILTER (WHERE NOT stale), 0), coalesce(bool_or(stale), false)
        INTO total, any_stale FROM core_hourlysummary
        WHERE node_id = node AND hour >= full_start AND hour < summarised_end;
    IF any_stale THEN
        SELECT count(*) INTO part FROM core_hourlysummary h JOIN core_sample s
            ON s.node_id = h.node_id AND s."timestamp" >= h.hour AND s."timestamp" < h.hour + interval '1 hour'
            WHERE h.node_id = node AND h.hour >= full_start AND h.hour < summarised_end AND h.stale;
        total := total + part;
    END IF;
    IF since < full_start THEN
        SELECT count(*) INTO part FROM core_sample
            WHERE node_id = node AND "timestamp" >= since AND "timestamp" < full_start;
        total := total + part;
    END IF;
    SELECT count(*) INTO part FROM core_sample
        WHERE node_id = node AND "timestamp" >= summarised_end AND "timestamp" < until;
    RETURN total + part;
END $$;
"""
# The reverse puts 0006's version back.
COUNT_SAMPLES_BEFORE = importlib.import_module("core.migrations.0006_hourly_summary").COUNT_FUNCTION.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
)


class Migration(migrations.Migration):
    dependencies = [("core", "0008_partition_samples")]

    operations = [
        RunSQLOnPostgres(LATEST_SAMPLE, "DROP FUNCTION core_latest_sample(uuid, timestamptz, timestamptz);"),
        RunSQLOnPostgres(COUNT_SAMPLES, COUNT_SAMPLES_BEFORE),
    ]

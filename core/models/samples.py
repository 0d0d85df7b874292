"""Samples: the measurements nodes send, by far the largest table."""

from django.db import models

from core.limits import SAMPLE_LIMITS
from core.models.inventory import Node


class RealField(models.FloatField):
    """A 4-byte ``real`` on PostgreSQL; sensors resolve 0.1 °C and 0.5 % at
    best, far inside its seven significant digits."""

    def db_type(self, connection):
        return "real" if connection.vendor == "postgresql" else super().db_type(connection)


def _within_limits(field: str) -> models.Q:
    limit = SAMPLE_LIMITS[field]
    return models.Q(**{f"{field}__gte": limit.minimum, f"{field}__lte": limit.maximum})


class Sample(models.Model):
    """One measurement of a node at one moment.

    Sized for hundreds of millions of rows, read by (node, time range):

    - ``timestamp`` is ``timestamptz`` (8 bytes): time-zone-aware bucketing
      (``date_bin``), the admin's date hierarchy and range partitioning by
      month (``core.partitions``, PostgreSQL only) need a real time type; the
      API converts to Unix seconds. On PostgreSQL the primary key is
      (id, timestamp), since a partitioned table's unique keys must hold the
      partition key; one sequence numbers every partition.
    - CO2 is a 4-byte integer; temperature and humidity are 4-byte ``real``s.
      With 8-byte alignment the row is as small as with 2-byte integers, and
      ``real`` aggregates far faster than ``numeric``.
    - The unique index on (node, timestamp) does three jobs: exactly-once
      ingest (``ON CONFLICT DO NOTHING``), reads of a node's window (an index
      range scan returning rows in time order), and the foreign key's lookups
      — so the foreign key gets no index of its own.
    - A BRIN index on ``timestamp`` (PostgreSQL only, a few pages for
      millions of rows, since samples arrive in time order) serves
      whole-table time filters: the admin, archiving and pruning.
    - The surrogate ``id`` exists because the admin cannot edit models with
      composite primary keys and API clients key embedded samples by it.
    """

    class Status(models.TextChoices):
        MEASUREMENT = "M", "measured value"
        REPLACEMENT = "R", "replacement value"
        ERROR = "E", "measurement error"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="samples", db_index=False)
    timestamp = models.DateTimeField()
    co2_ppm = models.IntegerField()
    temperature_celsius = RealField(null=True, blank=True)
    rel_humidity_percent = RealField(null=True, blank=True)
    measurement_status = models.CharField(max_length=1, choices=Status.choices, default=Status.MEASUREMENT)

    class Meta:
        ordering = ["node", "timestamp"]
        get_latest_by = "timestamp"
        constraints = [
            models.UniqueConstraint(fields=["node", "timestamp"], name="sample_unique_node_timestamp"),
            models.CheckConstraint(condition=_within_limits("co2_ppm"), name="sample_co2_ppm_range"),
            models.CheckConstraint(
                condition=_within_limits("temperature_celsius") | models.Q(temperature_celsius__isnull=True),
                name="sample_temperature_celsius_range",
            ),
            models.CheckConstraint(
                condition=_within_limits("rel_humidity_percent") | models.Q(rel_humidity_percent__isnull=True),
                name="sample_rel_humidity_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(measurement_status__in=["M", "R", "E"]),
                name="sample_measurement_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S}: {self.co2_ppm} ppm"


class HourlySummary(models.Model):
    """A node's samples of one UTC hour, summarised: the figures of a 1-hour
    bucket, kept so that a year by hours reads 8,760 rows, not 525,600.

    ``SummaryHorizon.complete_before`` bounds where summaries can be trusted:
    before it, every hour holding samples has a row, and database triggers
    (PostgreSQL only, migration 0006) mark a row ``stale`` whenever samples
    in its hour are inserted, changed or deleted, by whatever path. Samples
    of the current hour set off no trigger (ingest's hot path stays as fast
    as without summaries); ``core.hourly.refresh`` adds their rows when it
    moves the horizon forward, and recomputes stale rows. Readers trust only
    fresh rows before the horizon and compute everything else from samples,
    so a summary is never wrong, only sometimes not yet there.
    """

    # No surrogate id: every upsert (triggers, ingest's late samples, the
    # refresh) would draw a sequence value, and (node, hour) is all it needs.
    pk = models.CompositePrimaryKey("node", "hour")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    stale = models.BooleanField(default=True)
    sample_count = models.IntegerField(null=True)
    co2_ppm_mean = models.FloatField(null=True)
    co2_ppm_min = models.IntegerField(null=True)
    co2_ppm_max = models.IntegerField(null=True)
    co2_ppm_median = models.FloatField(null=True)
    co2_ppm_p90 = models.FloatField(null=True)
    temperature_celsius_mean = models.FloatField(null=True)
    temperature_celsius_min = RealField(null=True)
    temperature_celsius_max = RealField(null=True)
    rel_humidity_percent_mean = models.FloatField(null=True)
    rel_humidity_percent_min = RealField(null=True)
    rel_humidity_percent_max = RealField(null=True)

    class Meta:
        indexes = [models.Index(fields=["hour"], condition=models.Q(stale=True), name="hourlysummary_stale")]
        verbose_name_plural = "hourly summaries"

    def __str__(self) -> str:
        return f"{self.node_id} @ {self.hour:%Y-%m-%d %H}h"


class SummaryHorizon(models.Model):
    """One row: the time before which hourly summaries are complete (see
    ``HourlySummary``); only ``core.hourly.refresh`` moves it, forward."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    complete_before = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="summaryhorizon_single_row")]

    def __str__(self) -> str:
        return f"hourly summaries complete before {self.complete_before:%Y-%m-%d %H:%M}"

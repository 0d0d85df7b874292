from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from core.models import HourlySummary, Sample


@pytest.mark.django_db
def test_refresh_summaries_recomputes_stale_hours_and_says_how_many(node):
    start = datetime(2024, 3, 5, 10, tzinfo=UTC)
    Sample.objects.bulk_create(
        Sample(node=node, timestamp=start + timedelta(minutes=20 * i), co2_ppm=500 + i) for i in range(9)
    )
    out = StringIO()
    call_command("refresh_summaries", stdout=out)
    assert out.getvalue() == "3 hours recomputed.\n"
    assert not HourlySummary.objects.filter(stale=True).exists()
    assert list(HourlySummary.objects.order_by("hour").values_list("sample_count", "co2_ppm_max")) == [
        (3, 502), (3, 505), (3, 508),
    ]  # fmt: skip

"""The sample list: hundreds of millions of rows, read page by page.

Three things Django's admin would do over the whole table are replaced:
the page count (``CappedCountPaginator``), the date drill-down's
``SELECT DISTINCT date_trunc(...)`` and ``MIN``/``MAX`` (``sample_calendar``,
from the calendar and one index probe per node), and sorting by anything but
the unique (node, timestamp) index.
"""

import calendar
import json
import uuid
from datetime import date
from functools import cache

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, OuterRef, Q, Subquery
from django.template import engines
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext

from core.models import Node, Sample


class CappedCountPaginator(Paginator):
    """Counts exactly up to ``exact_limit`` rows and takes the query planner's
    estimate beyond, so a page never costs a COUNT(*) over the table."""

    exact_limit = 1_000
    estimated = False

    @cached_property
    def count(self) -> int:
        # In the list's own order: the capped count then walks the same
        # index as the page itself and stops as early.
        counted = self.object_list.values("pk")[: self.exact_limit + 1].count()
        if counted <= self.exact_limit:
            return counted
        rows = self.object_list.order_by()
        if connections[rows.db].vendor != "postgresql":
            return rows.count()
        self.estimated = True
        return max(counted, planned_rows(rows))


def planned_rows(queryset) -> int:
    plan = json.loads(queryset.explain(format="json"))
    if isinstance(plan, list):
        plan = plan[0]
    return int(plan["Plan"]["Plan Rows"])


def sample_span():
    """First and last sample time (local), or None without samples.

    One index probe per node on the unique (node, timestamp) index; MIN and
    MAX over the table would read all of it, since the BRIN index on
    timestamp cannot answer them."""
    of_node = Sample.objects.filter(node=OuterRef("pk")).values("timestamp")
    span = Node.objects.aggregate(
        first=Min(Subquery(of_node.order_by("timestamp")[:1])),
        last=Max(Subquery(of_node.order_by("-timestamp")[:1])),
    )
    if span["first"] is None:
        return None
    return timezone.localtime(span["first"]).date(), timezone.localtime(span["last"]).date()


def sample_calendar(cl) -> dict:
    """The context of ``admin/date_hierarchy.html`` for the sample list.

    Offers every year, month or day within the span of all samples, whether
    or not the current filters leave samples there: asking the table which
    ones do is the unbounded query this replaces."""
    field = cl.date_hierarchy
    year, month, day = (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))
    span = sample_span()
    first, last = span or (date.min, date.max)

    def link(filters):
        return cl.get_query_string(filters, [f"{field}__"])

    if not year and span and first.year == last.year:
        # As Django does: one year (or month) of data opens at that level.
        year = first.year
        if first.month == last.month:
            month = first.month
    if year and month and day:
        chosen = date(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link({f"{field}__year": year, f"{field}__month": month}),
                "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        year, month = int(year), int(month)
        days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
        return {
            "show": True,
            "back": {"link": link({f"{field}__year": year}), "title": str(year)},
            "choices": [
                {
                    "link": link({f"{field}__year": year, f"{field}__month": month, f"{field}__day": d.day}),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
                if first <= d <= last
            ],
        }
    if year:
        year = int(year)
        return {
            "show": True,
            "back": {"link": link({}), "title": gettext("All dates")},
            "choices": [
                {
                    "link": link({f"{field}__year": year, f"{field}__month": m}),
                    "title": capfirst(formats.date_format(date(year, m, 1), "YEAR_MONTH_FORMAT")),
                }
                for m in range(1, 13)
                if (first.year, first.month) <= (year, m) <= (last.year, last.month)
            ],
        }
    return {
        "show": span is not None,
        "back": None,
        "choices": [
            {"link": link({f"{field}__year": str(y)}), "title": str(y)}
            for y in range(first.year, last.year + 1)
        ]
        if span
        else [],
    }


@cache
def _sample_change_list_template():
    return engines["django"].from_string(
        '{% extends "admin/change_list.html" %}'
        '{% block date_hierarchy %}{% include "admin/date_hierarchy.html" with '
        "show=sample_calendar.show back=sample_calendar.back choices=sample_calendar.choices %}"
        "{% endblock %}"
        "{% block pagination %}{{ block.super }}{% if cl.paginator.estimated %}"
        '<p class="help">The number of samples is the database\'s estimate.</p>{% endif %}{% endblock %}'
    )


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    """Samples come from ingest only; staff read them and may delete one."""

    list_display = (
        "timestamp",
        "node",
        "co2_ppm",
        "temperature_celsius",
        "rel_humidity_percent",
        "measurement_status",
    )
    list_select_related = ("node",)
    # No list filter: measurement_status has no index, so a page of a rare
    # status could read the whole table. Nodes are found by search instead.
    search_fields = ("node__eui64", "node__id", "node__alias")  # see get_search_results
    search_help_text = "A node's EUI-64 or id (exactly), or part of its alias."
    date_hierarchy = "timestamp"
    # Walks the unique (node, timestamp) index backwards: latest first within
    # a node. Any other order, including a column header's, sorts the table.
    ordering = ("-node_id", "-timestamp")
    sortable_by = ()
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 500
    # No bulk actions: "select all" would load every matching sample.
    actions = None

    @property
    def change_list_template(self):
        return _sample_change_list_template()

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["sample_calendar"] = sample_calendar(context["cl"])
        return response

    def get_search_results(self, request, queryset, search_term):
        # Find the nodes first, then their samples through the (node,
        # timestamp) index; Django's search would test every sample row
        # against the joined node.
        term = search_term.strip()
        if not term:
            return queryset, False
        eui64 = term.lower().replace("-", "").replace(":", "")
        nodes = Q(eui64=eui64) | Q(alias__icontains=term)
        try:
            nodes |= Q(pk=uuid.UUID(term))
        except ValueError:
            pass
        node_ids = list(Node.objects.filter(nodes).order_by().values_list("pk", flat=True))
        return queryset.filter(node_id__in=node_ids), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

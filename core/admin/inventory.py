"""Addresses, sites, rooms, nodes, installations and the nodes' fidelity."""

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.admin.charts import co2_chart
from core.models import Address, FidelityEvent, Installation, Node, NodeFidelity, Room, Site
from core.timeseries import BUCKET_COLUMNS, Bucketing, Window, bucket_rows
from core.timestamps import from_unix
from managair.admin_inlines import LabelledAutocompleteInline, LabelledFormSet

CHART_PERIOD = timedelta(days=7)
_CO2_MEAN = BUCKET_COLUMNS.index("co2_ppm_mean")
# The fidelity badges' colours, for the pages that show them.
ADMIN_CSS = {"all": ("admin/managair.css",)}


class InstallationFormSet(LabelledFormSet):
    def clean(self):
        super().clean()
        # Installation.clean() compares each row with the database only; two
        # new rows of one node that overlap each other would reach the
        # exclusion constraint and end in a server error.
        kept = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        for i, first in enumerate(kept):
            for second in kept[i + 1 :]:
                if (
                    first.node_id == second.node_id
                    and first.from_time < second.to_time
                    and second.from_time < first.to_time
                ):
                    raise ValidationError(f"Two installations of node {first.node} overlap.")


class InstallationInline(LabelledAutocompleteInline):
    model = Installation
    formset = InstallationFormSet
    show_change_link = True


class InstallationInRoomInline(InstallationInline):
    fields = ("node", "from_time", "to_time", "is_public")
    autocomplete_fields = ("node",)


class InstallationOfNodeInline(InstallationInline):
    fields = ("room", "from_time", "to_time", "is_public")
    autocomplete_fields = ("room",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("room__site")


class InlinesOnChangeOnly:
    # Installation.clean() cannot check the organization of a node or room
    # that does not exist yet (the database trigger would refuse it with a
    # server error), so installations are added once the parent is saved.
    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ("street1", "street2", "zip", "city", "latitude", "longitude")
    search_fields = ("street1", "street2", "zip", "city")


class RoomInline(admin.TabularInline):
    model = Room
    fields = ("name", "size_sqm", "height_m", "max_occupancy")
    extra = 0
    show_change_link = True


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "operator", "address")
    list_select_related = ("operator", "address")
    search_fields = ("name", "operator__name", "address__street1", "address__city")
    autocomplete_fields = ("operator", "address")
    inlines = (RoomInline,)


@admin.register(Room)
class RoomAdmin(InlinesOnChangeOnly, admin.ModelAdmin):
    list_display = ("name", "site", "organization", "size_sqm", "max_occupancy")
    list_select_related = ("site__operator",)
    search_fields = ("name", "site__name", "site__operator__name")
    autocomplete_fields = ("site",)
    inlines = (InstallationInRoomInline,)

    def get_queryset(self, request):
        # A room's name includes its site's, so autocomplete answers need the
        # join too (and Django ignores list_select_related once one is set).
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(ordering="site__operator__name")
    def organization(self, room):
        return room.site.operator


@admin.register(Node)
class NodeAdmin(InlinesOnChangeOnly, admin.ModelAdmin):
    class Media:
        css = ADMIN_CSS

    list_display = ("eui64", "alias", "owner", "protocol", "model", "fidelity_status", "samples")
    list_select_related = ("owner", "protocol", "model", "fidelity")
    list_filter = ("fidelity__fidelity", "protocol", "model")
    search_fields = ("eui64", "alias", "=id", "owner__name")
    search_help_text = "EUI-64 or alias (parts of them), node id, or owner."
    autocomplete_fields = ("owner",)
    inlines = (InstallationOfNodeInline,)

    def get_fields(self, request, obj=None):
        fields = ["eui64", "alias", "id", "protocol", "model", "owner", "description"]
        return fields if obj is None else fields + ["fidelity_status", "last_contact", "samples", "co2_chart"]

    def get_readonly_fields(self, request, obj=None):
        # Changing the primary key would copy the node instead.
        return () if obj is None else ("id", "fidelity_status", "last_contact", "samples", "co2_chart")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "id":
            kwargs["help_text"] = "Leave empty to derive it from protocol and EUI-64, as clair-ttn does."
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="fidelity", ordering="fidelity__fidelity")
    def fidelity_status(self, node):
        return fidelity_badge(node)

    @admin.display(description="last contact")
    def last_contact(self, node):
        fidelity = _fidelity_of(node)
        return fidelity.last_contact if fidelity else None

    @admin.display(description="samples")
    def samples(self, node):
        url = reverse("admin:core_sample_changelist")
        return format_html('<a href="{}?node__id__exact={}">samples</a>', url, node.pk)

    @admin.display(description="CO2, last 7 days")
    def co2_chart(self, node):
        return last_week_chart(node.pk, title=f"CO2 of {node}, hourly means of the last 7 days")


def _fidelity_of(node: Node) -> NodeFidelity | None:
    try:
        return node.fidelity
    except NodeFidelity.DoesNotExist:
        # Not checked yet.
        return None


def fidelity_badge(node: Node) -> SafeString:
    """The status the check stored for the node, as a badge coloured by
    admin/managair.css (select the node's ``fidelity`` with it)."""
    fidelity = _fidelity_of(node)
    if fidelity is None:
        return format_html('<span class="fidelity-badge fidelity-none">{}</span>', "not checked yet")
    return format_html(
        '<span class="fidelity-badge fidelity-{}" data-status="{}">{}</span>',
        fidelity.fidelity,
        fidelity.fidelity,
        fidelity.get_fidelity_display(),
    )


def last_week_chart(node_id, *, title: str, installation: Installation | None = None) -> SafeString:
    """The node's hourly CO2 means of the last CHART_PERIOD (an
    installation's: only within its span), computed by the database as the
    API's 1-hour buckets are, so a week costs at most 168 summary rows."""
    tz = timezone.get_default_timezone()
    now = timezone.now()
    axis = Window(now - CHART_PERIOD, now)
    shown = axis.clipped_to(installation) if installation is not None else axis
    rows = bucket_rows(node_id, shown, Bucketing("1h", tz))
    points = [(from_unix(row[0]), row[_CO2_MEAN]) for row in rows]
    return co2_chart(points, start=axis.start, end=axis.end, tz=tz, title=title)


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    class Media:
        css = ADMIN_CSS

    list_display = ("node", "room_name", "site", "organization", "from_time", "to_time", "is_public")
    list_select_related = ("node", "room__site__operator")
    list_filter = ("is_public",)
    search_fields = (
        "node__eui64",
        "node__alias",
        "room__name",
        "room__site__name",
        "room__site__operator__name",
    )
    autocomplete_fields = ("node", "room")
    date_hierarchy = "from_time"

    def get_queryset(self, request):
        # An installation's name includes its node's and room's (see RoomAdmin).
        return super().get_queryset(request).select_related(*self.list_select_related)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("node_fidelity", "co2_chart")

    @admin.display(description="room", ordering="room__name")
    def room_name(self, installation):
        return installation.room.name

    @admin.display(ordering="room__site__name")
    def site(self, installation):
        return installation.room.site

    @admin.display(ordering="room__site__operator__name")
    def organization(self, installation):
        return installation.room.site.operator

    @admin.display(description="fidelity of the node")
    def node_fidelity(self, installation):
        return fidelity_badge(installation.node)

    @admin.display(description="CO2, last 7 days")
    def co2_chart(self, installation):
        title = f"CO2 of {installation.node} in {installation.room.name}, hourly means of the last 7 days"
        return last_week_chart(installation.node_id, title=title, installation=installation)


@admin.register(NodeFidelity)
class NodeFidelityAdmin(admin.ModelAdmin):
    """Written by ingest and the scheduled check, read by staff."""

    list_display = ("node", "owner", "fidelity", "last_contact", "last_notified")
    list_select_related = ("node__owner",)
    list_filter = ("fidelity",)
    search_fields = ("node__eui64", "node__alias", "node__owner__name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(ordering="node__owner__name")
    def owner(self, fidelity):
        return fidelity.node.owner


@admin.register(FidelityEvent)
class FidelityEventAdmin(admin.ModelAdmin):
    """The check's record of status changes: read, never written by hand."""

    list_display = ("timestamp", "node", "old", "new")
    list_select_related = ("node",)
    list_filter = ("new",)
    search_fields = ("node__eui64", "node__alias", "node__owner__name")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

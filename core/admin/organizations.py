"""The admin for organizations: members inline, and counts of what they own."""

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin.inventory import ADMIN_CSS, fidelity_badge
from core.models import Node, Site
from managair.admin_inlines import LabelledAutocompleteInline
from user_manager.models import Membership, Organization

# Organizations may own thousands of nodes; the page lists the first ones
# and links to the node list for the rest.
LISTED_NODES = 100


def _count_per_organization(model, organization_field: str):
    # A correlated count per row: joining nodes and sites in one query would
    # multiply them (every node paired with every site) before counting.
    rows = (
        model.objects.filter(**{organization_field: OuterRef("pk")})
        .order_by()
        .values(organization_field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


class MembershipInOrganizationInline(LabelledAutocompleteInline):
    model = Membership
    fields = ("user", "role")
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "members", "nodes", "sites", "notify_fidelity", "created")
    list_filter = ("notify_fidelity",)
    search_fields = ("name",)
    inlines = (MembershipInOrganizationInline,)

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=_count_per_organization(Membership, "organization"),
                node_count=_count_per_organization(Node, "owner"),
                site_count=_count_per_organization(Site, "operator"),
            )
        )

    @admin.display(ordering="member_count")
    def members(self, organization):
        return organization.member_count

    @admin.display(ordering="node_count")
    def nodes(self, organization):
        return organization.node_count

    @admin.display(ordering="site_count")
    def sites(self, organization):
        return organization.site_count

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("node_list",)

    @admin.display(description="nodes")
    def node_list(self, organization):
        # One query however many nodes: each row's badge reads the fidelity selected with it.
        nodes = Node.objects.filter(owner=organization).select_related("fidelity").order_by("alias", "eui64")
        nodes = list(nodes[:LISTED_NODES])
        if not nodes:
            return "none"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td class="eui64">{}</td><td>{}</td></tr>',
            (
                (reverse("admin:core_node_change", args=[node.pk]), node.alias or "–", node.eui64, fidelity_badge(node))
                for node in nodes
            ),
        )
        count = organization.node_count
        everything = format_html(
            '<p><a href="{}?owner__id__exact={}">{} {} in the node list</a>{}</p>',
            reverse("admin:core_node_changelist"),
            organization.pk,
            "all" if count > 1 else "the",
            f"{count} nodes" if count > 1 else "node",
            f" (the first {len(nodes)} above)" if count > len(nodes) else "",
        )
        return format_html(
            '<table class="organization-nodes"><thead><tr><th>alias</th><th>EUI-64</th><th>fidelity</th></tr></thead>'
            "<tbody>{}</tbody></table>{}",
            rows,
            everything,
        )

"""The admin for organizations: members inline, and counts of what they own."""

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from core.models import Node, Site
from managair.admin_inlines import LabelledAutocompleteInline
from user_manager.models import Membership, Organization


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

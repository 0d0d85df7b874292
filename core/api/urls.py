"""``/api/v1/``: one route per resource, plus the related routes clients use.

Related routes are the resource's own view narrowed by the parent (see
``ScopedViewSet.parents``), so they obey the same scoping as everything else.
"""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from core.api import airquality_views as airquality
from core.api import inventory_views as inventory
from core.api import timeseries_views as timeseries
from core.api import views


class OptionalSlashRouter(DefaultRouter):
    """Routes that match with and without the trailing slash: como-ui asks
    for ``installations/1``, and a redirect would lose a POST's body."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("quantities", views.QuantityViewSet, basename="quantity")
router.register("protocols", views.ProtocolViewSet, basename="protocol")
router.register("models", views.NodeModelViewSet, basename="nodemodel")
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("users", views.UserViewSet, basename="user")
router.register("addresses", inventory.AddressViewSet, basename="address")
router.register("sites", inventory.SiteViewSet, basename="site")
router.register("rooms", inventory.RoomViewSet, basename="room")
router.register("nodes", inventory.NodeViewSet, basename="node")
router.register("installations", inventory.InstallationViewSet, basename="installation")
router.register("fidelity", inventory.FidelityViewSet, basename="fidelity")
router.register("fidelity-events", inventory.FidelityEventViewSet, basename="fidelityevent")
router.register("node-timeseries", timeseries.NodeTimeseriesViewSet, basename="node-timeseries")
router.register(
    "installation-timeseries", timeseries.InstallationTimeseriesViewSet, basename="installation-timeseries"
)

LIST = {"get": "list"}
ONE = {"get": "retrieve_one"}


def related(parent: str, kwarg: str, name: str, view, actions: dict):
    """``<parent>/<id>/<name>/``, with or without the trailing slash."""
    id_pattern = "[0-9a-fA-F-]+" if kwarg == "node_pk" else "[0-9]+"  # nodes have UUIDs
    return re_path(
        rf"^{parent}/(?P<{kwarg}>{id_pattern})/{name}/?$",
        view.as_view(actions),
        name=f"{parent}-{name}",
    )


related_routes = [
    related("organizations", "organization_pk", "sites", inventory.SiteViewSet, LIST),
    related("organizations", "organization_pk", "nodes", inventory.NodeViewSet, LIST),
    related("organizations", "organization_pk", "memberships", views.MembershipViewSet, LIST),
    related("organizations", "organization_pk", "users", views.UserViewSet, LIST),
    related("users", "user_pk", "memberships", views.MembershipViewSet, LIST),
    related("users", "user_pk", "organizations", views.OrganizationViewSet, LIST),
    related("memberships", "membership_pk", "user", views.UserViewSet, ONE),
    related("memberships", "membership_pk", "organization", views.OrganizationViewSet, ONE),
    related("sites", "site_pk", "rooms", inventory.RoomViewSet, LIST),
    related("sites", "site_pk", "operator", views.OrganizationViewSet, ONE),
    related("sites", "site_pk", "address", inventory.AddressViewSet, ONE),
    related("rooms", "room_pk", "installations", inventory.InstallationViewSet, LIST),
    related("rooms", "room_pk", "site", inventory.SiteViewSet, ONE),
    related("nodes", "node_pk", "installations", inventory.InstallationViewSet, LIST),
    related("nodes", "node_pk", "owner", views.OrganizationViewSet, ONE),
    related("installations", "installation_pk", "node", inventory.NodeViewSet, ONE),
    related("installations", "installation_pk", "room", inventory.RoomViewSet, ONE),
    related("nodes", "node_pk", "timeseries", timeseries.NodeTimeseriesViewSet, {"get": "retrieve"}),
    related(
        "installations", "installation_pk", "timeseries", timeseries.InstallationTimeseriesViewSet, {"get": "retrieve"}
    ),
    related("rooms", "room_pk", "airquality", airquality.RoomAirQualityViewSet, {"get": "retrieve"}),
    # Any segment reaches the view, so that a malformed month is a 400, not a 404.
    re_path(
        r"^rooms/(?P<room_pk>[0-9]+)/airquality/(?P<month>[^/]+)/?$",
        airquality.RoomMonthAirQualityViewSet.as_view({"get": "retrieve"}),
        name="rooms-airquality-month",
    ),
]

urlpatterns = related_routes + [path("", include(router.urls))]

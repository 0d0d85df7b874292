"""JSON:API documents for every resource (../shared/API.md).

Serializers only shape documents; who may see or change what is decided in
``core.scoping`` and ``core.api.base``. Writable relationships accept only
objects the caller can see (``ScopedRelatedField``).
"""

import copy
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.utils import timezone
from rest_framework import serializers as drf
from rest_framework.validators import UniqueValidator
from rest_framework_json_api import serializers

from core import scoping
from core.api.fields import Eui64Field, ScopedRelatedField, TypedRelatedField, UnixSecondsField, scoped_many
from core.api.samples import latest_sample_document
from core.models import (
    Address,
    FidelityEvent,
    Installation,
    Node,
    NodeFidelity,
    NodeModel,
    Protocol,
    Quantity,
    Room,
    Site,
)
from core.models.inventory import EUI64_PATTERN
from core.timestamps import END_OF_TIME, to_unix
from user_manager.models import Membership, Organization, User

# PositiveIntegerField's bounds depend on the database; the schema must not.
_INT32 = {"min_value": 0, "max_value": 2**31 - 1}


class ModelSerializer(serializers.ModelSerializer):
    """Refuses attributes and relationships the resource does not have, so a
    misspelt name is an error instead of a silently ignored change."""

    def validate(self, attrs):
        known = set(self.fields) | {"id", "type", "_meta"}
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - known)
        if unknown:
            message = "This resource has no such attribute or relationship."
            raise drf.ValidationError({name: message for name in unknown})
        return super().validate(attrs)


class WithTimeseries:
    """A ``timeseries`` attribute, present only when the view computed one
    (details asked for with ``include_timeseries=1``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "timeseries" not in self.context:
            self.fields.pop("timeseries", None)

    def get_timeseries(self, obj) -> list[dict]:
        return self.context["timeseries"]


# --- Catalog --------------------------------------------------------------------


class QuantitySerializer(ModelSerializer):
    class Meta:
        model = Quantity
        fields = ("quantity", "base_unit")


class ProtocolSerializer(ModelSerializer):
    class Meta:
        model = Protocol
        fields = ("identifier", "num_uplink_msgs", "num_downlink_msgs")
        extra_kwargs = {"num_uplink_msgs": _INT32, "num_downlink_msgs": _INT32}


class NodeModelSerializer(ModelSerializer):
    quantities = TypedRelatedField(many=True, queryset=Quantity.objects.all(), required=False)

    included_serializers = {"quantities": QuantitySerializer}

    class Meta:
        model = NodeModel
        resource_name = "Model"
        fields = ("name", "trade_name", "manufacturer", "sensor_type", "quantities")


# --- Organizations, people ------------------------------------------------------------


class OrganizationSerializer(ModelSerializer):
    users = scoped_many(User, scoping.users)
    memberships = scoped_many(Membership, scoping.memberships)
    sites = scoped_many(Site, scoping.sites)
    nodes = scoped_many(Node, scoping.nodes)

    included_serializers = {
        "users": "core.api.serializers.UserSerializer",
        "memberships": "core.api.serializers.MembershipSerializer",
        "sites": "core.api.serializers.SiteSerializer",
        "nodes": "core.api.serializers.NodeSerializer",
    }

    class Meta:
        model = Organization
        fields = ("name", "description", "notify_fidelity", "alive_period_s", "users", "memberships", "sites", "nodes")
        extra_kwargs = {"alive_period_s": {**_INT32, "min_value": 60}}


class UserSerializer(ModelSerializer):
    organizations = scoped_many(Organization, scoping.organizations)
    memberships = scoped_many(Membership, scoping.memberships)

    included_serializers = {
        "organizations": OrganizationSerializer,
        "memberships": "core.api.serializers.MembershipSerializer",
    }

    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name", "organizations", "memberships")
        read_only_fields = ("username", "email")


class MembershipSerializer(ModelSerializer):
    user_name = drf.CharField(source="user.username", read_only=True)
    organization_name = drf.CharField(source="organization.name", read_only=True)
    # Any registered user may be added (como-ui finds them by e-mail first);
    # the organization must be one the caller can see.
    user = TypedRelatedField(queryset=User.objects.filter(is_active=True))
    organization = ScopedRelatedField(scope=scoping.organizations, model=Organization)

    included_serializers = {"user": UserSerializer, "organization": OrganizationSerializer}

    class Meta:
        model = Membership
        fields = ("role", "user_name", "organization_name", "user", "organization")

    def validate(self, attrs):
        if self.instance is not None:
            # A membership moves no one: only its role changes.
            for field in ("user", "organization"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise drf.ValidationError({field: "A membership's user and organization cannot change."})
        return super().validate(attrs)


# --- Places -----------------------------------------------------------------------


class AddressSerializer(ModelSerializer):
    class Meta:
        model = Address
        fields = ("street1", "street2", "zip", "city", "latitude", "longitude")


class SiteSerializer(ModelSerializer):
    operator = ScopedRelatedField(scope=scoping.organizations, model=Organization)
    address = ScopedRelatedField(scope=scoping.addresses, model=Address, required=False, allow_null=True)
    rooms = scoped_many(Room, scoping.rooms)

    included_serializers = {
        "operator": OrganizationSerializer,
        "address": AddressSerializer,
        "rooms": "core.api.serializers.RoomSerializer",
    }

    class Meta:
        model = Site
        fields = ("name", "description", "operator", "address", "rooms")


class RoomSerializer(ModelSerializer):
    site = ScopedRelatedField(scope=scoping.sites, model=Site)
    installations = scoped_many(Installation, scoping.installations)

    included_serializers = {"site": SiteSerializer, "installations": "core.api.serializers.InstallationSerializer"}

    class Meta:
        model = Room
        fields = ("name", "description", "size_sqm", "height_m", "max_occupancy", "site", "installations")
        extra_kwargs = {
            "max_occupancy": _INT32,
            "size_sqm": {"min_value": Decimal("0.1")},
            "height_m": {"min_value": Decimal("0.1")},
        }


# --- Nodes and where they are ---------------------------------------------------------


class NodeSerializer(WithTimeseries, ModelSerializer):
    # Chosen by the client (clair-ttn derives it from protocol and EUI); when
    # left out, derived the same way.
    id = drf.UUIDField(required=False)
    eui64 = Eui64Field(
        validators=[
            RegexValidator(EUI64_PATTERN, "An EUI-64 is 16 hexadecimal digits."),
            UniqueValidator(Node.objects.all(), message="A node with this EUI-64 exists already."),
        ]
    )
    sample_count = drf.IntegerField(read_only=True)
    latest_sample = drf.SerializerMethodField()
    timeseries = drf.SerializerMethodField()
    protocol = TypedRelatedField(queryset=Protocol.objects.all())
    model = TypedRelatedField(queryset=NodeModel.objects.all())
    owner = ScopedRelatedField(scope=scoping.organizations, model=Organization)
    installations = scoped_many(Installation, scoping.installations)

    included_serializers = {
        "protocol": ProtocolSerializer,
        "model": NodeModelSerializer,
        "owner": OrganizationSerializer,
        "installations": "core.api.serializers.InstallationSerializer",
    }

    class Meta:
        model = Node
        fields = (
            "id", "eui64", "alias", "description", "sample_count", "latest_sample", "timeseries",
            "protocol", "model", "owner", "installations",
        )

    def get_latest_sample(self, node) -> dict | None:
        return latest_sample_document(node)

    def validate(self, attrs):
        if self.instance is not None and "id" in attrs and attrs["id"] != self.instance.pk:
            raise drf.ValidationError({"id": "A node's id cannot change."})
        return super().validate(attrs)


class InstallationSerializer(WithTimeseries, ModelSerializer):
    from_timestamp_s = UnixSecondsField(source="from_time")
    to_timestamp_s = UnixSecondsField(source="to_time", required=False, default=END_OF_TIME)
    sample_count = drf.IntegerField(read_only=True)
    latest_sample = drf.SerializerMethodField()
    query_timestamp_s = drf.SerializerMethodField()
    timeseries = drf.SerializerMethodField()
    image = drf.ImageField(read_only=True)
    # A public installation's node stays private: non-members see null.
    node = ScopedRelatedField(scope=scoping.nodes, model=Node, hide_invisible=True)
    room = ScopedRelatedField(scope=scoping.rooms, model=Room)

    included_serializers = {"node": NodeSerializer, "room": RoomSerializer}

    class Meta:
        model = Installation
        fields = (
            "from_timestamp_s", "to_timestamp_s", "description", "is_public", "image",
            "sample_count", "latest_sample", "query_timestamp_s", "timeseries", "node", "room",
        )

    def get_latest_sample(self, installation) -> dict | None:
        return latest_sample_document(installation)

    def get_query_timestamp_s(self, installation) -> int:
        return to_unix(timezone.now())

    def validate(self, attrs):
        attrs = super().validate(attrs)
        # Run the model's rules (same organization, no overlap) on the
        # object as it would be, so that errors point at the attribute.
        candidate = copy.copy(self.instance) if self.instance is not None else Installation()
        for field, value in attrs.items():
            setattr(candidate, field, value)
        try:
            candidate.clean()
        except DjangoValidationError as error:
            raise drf.ValidationError(
                {_INSTALLATION_ATTRIBUTES.get(f, f): m for f, m in error.message_dict.items()}
            ) from None
        return attrs


class FidelitySerializer(ModelSerializer):
    last_contact_s = UnixSecondsField(source="last_contact", read_only=True)
    # All nodes are checked together: the latest check (annotated by the view).
    last_check_s = UnixSecondsField(source="last_check", read_only=True, default=None)
    node = TypedRelatedField(read_only=True)

    included_serializers = {"node": NodeSerializer}

    class Meta:
        model = NodeFidelity
        resource_name = "Fidelity"
        fields = ("fidelity", "last_contact_s", "last_check_s", "node")


class FidelityEventSerializer(ModelSerializer):
    timestamp_s = UnixSecondsField(source="timestamp", read_only=True)
    node = TypedRelatedField(read_only=True)

    included_serializers = {"node": NodeSerializer}

    class Meta:
        model = FidelityEvent
        resource_name = "FidelityEvent"
        fields = ("old", "new", "timestamp_s", "node")
        read_only_fields = ("old", "new")


_INSTALLATION_ATTRIBUTES = {"from_time": "from_timestamp_s", "to_time": "to_timestamp_s"}

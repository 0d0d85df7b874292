"""What an organization owns and where it is: sites, rooms, nodes, installations."""

import hashlib
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from core.models.catalog import NodeModel, Protocol
from core.timestamps import END_OF_TIME
from user_manager.models import Organization

EUI64_PATTERN = r"^[0-9a-f]{16}$"


def derive_node_id(protocol_identifier: str, eui64: str) -> uuid.UUID:
    """The UUID clair-ttn gives a node: the first 16 bytes of SHA-256 over the
    protocol's name followed by the device EUI's bytes."""
    digest = hashlib.sha256(protocol_identifier.encode() + bytes.fromhex(eui64)).digest()
    return uuid.UUID(bytes=digest[:16])


def _changed(instance: models.Model, field: str) -> bool:
    """Whether a saved instance's field differs from the stored row."""
    stored = type(instance).objects.filter(pk=instance.pk).values_list(field, flat=True).first()
    return stored is not None and stored != getattr(instance, field)


class Address(models.Model):
    street1 = models.CharField(max_length=50)
    street2 = models.CharField(max_length=50, blank=True, default="")
    zip = models.CharField(max_length=10)
    city = models.CharField(max_length=50)
    # ISO 6709: north and east are positive.
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    # Addresses belong to no organization; until a site refers to one, only
    # its creator sees it (como-ui creates the address, then the site).
    created_by = models.ForeignKey(
        "user_manager.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["city", "street1"]
        verbose_name_plural = "addresses"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__gte=-90, latitude__lte=90)
                | models.Q(latitude__isnull=True),
                name="address_latitude_range",
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__gte=-180, longitude__lte=180)
                | models.Q(longitude__isnull=True),
                name="address_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.street1}, {self.zip} {self.city}"


class Site(models.Model):
    """A building or campus an organization operates."""

    name = models.CharField(max_length=50)
    description = models.TextField(blank=True, default="")
    operator = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sites")
    address = models.ForeignKey(
        Address, on_delete=models.PROTECT, related_name="sites", null=True, blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "name"], name="site_unique_name_per_operator"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.pk and self.operator_id and _changed(self, "operator_id"):
            if Installation.objects.filter(room__site=self).exists():
                raise ValidationError(
                    {"operator": "Nodes have been installed at this site; it cannot change organization."}
                )


class Room(models.Model):
    name = models.CharField(max_length=50)
    description = models.TextField(blank=True, default="")
    size_sqm = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    height_m = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    max_occupancy = models.PositiveIntegerField(null=True, blank=True)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="rooms")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="room_unique_name_per_site"),
            models.CheckConstraint(
                condition=models.Q(size_sqm__gt=0) | models.Q(size_sqm__isnull=True),
                name="room_size_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(height_m__gt=0) | models.Q(height_m__isnull=True),
                name="room_height_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.site})"

    def clean(self):
        if self.pk and self.site_id and _changed(self, "site_id"):
            new_operator = Site.objects.filter(pk=self.site_id).values_list("operator_id", flat=True).first()
            if self.installations.exclude(node__owner_id=new_operator).exists():
                raise ValidationError(
                    {"site": "Nodes of this organization have been installed here; the room cannot move to another organization's site."}
                )


class Node(models.Model):
    """A sensor node. Its id is chosen by the client (clair-ttn derives it
    from protocol and EUI, see ``derive_node_id``); the admin derives it the
    same way when left empty."""

    id = models.UUIDField(primary_key=True, blank=True)
    eui64 = models.CharField(
        "EUI-64",
        max_length=16,
        unique=True,
        validators=[RegexValidator(EUI64_PATTERN, "An EUI-64 is 16 hexadecimal digits.")],
        help_text="16 hexadecimal digits; stored in lower case.",
    )
    alias = models.CharField(max_length=100, blank=True, default="")
    description = models.TextField(blank=True, default="")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="nodes")
    model = models.ForeignKey(NodeModel, on_delete=models.PROTECT, related_name="nodes")
    owner = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="nodes")

    class Meta:
        ordering = ["alias", "eui64"]
        constraints = [
            models.CheckConstraint(condition=models.Q(eui64__regex=EUI64_PATTERN), name="node_eui64_format"),
        ]

    def __str__(self) -> str:
        return self.alias or self.eui64

    def clean(self):
        if self.pk and self.owner_id and _changed(self, "owner_id"):
            if self.installations.exists():
                raise ValidationError(
                    {"owner": "The node has been installed; it cannot change organization."}
                )

    def clean_fields(self, exclude=None):
        # Gateways and people write EUIs in upper case; one spelling is stored.
        self.eui64 = (self.eui64 or "").strip().lower().replace("-", "").replace(":", "")
        super().clean_fields(exclude)

    def save(self, *args, **kwargs):
        self.eui64 = self.eui64.lower()
        if self.id is None and self.protocol_id is not None:
            self.id = derive_node_id(self.protocol.identifier, self.eui64)
        super().save(*args, **kwargs)


class InstallationQuerySet(models.QuerySet):
    def overlapping(self, node_id, start, end):
        """Installations of the node whose span [from, to) meets [start, end)."""
        return self.filter(node_id=node_id, from_time__lt=end, to_time__gt=start)


class Installation(models.Model):
    """A node placed in a room for the span [from_time, to_time).

    Two rules are held by PostgreSQL itself (see migration 0002): node and
    room belong to the same organization (a trigger), and one node's
    installations never overlap (an exclusion constraint). ``clean()``
    checks both on every database, so forms and the API can say what is wrong.
    """

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="installations")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="installations")
    from_time = models.DateTimeField()
    # Upstream's open end: the largest 32-bit Unix time (2038-01-19).
    to_time = models.DateTimeField(default=END_OF_TIME)
    description = models.TextField(blank=True, default="")
    is_public = models.BooleanField(default=False)
    image = models.ImageField(upload_to="installations/", null=True, blank=True)

    objects = InstallationQuerySet.as_manager()

    class Meta:
        ordering = ["-from_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(from_time__lt=models.F("to_time")),
                name="installation_starts_before_it_ends",
            ),
        ]
        indexes = [models.Index(fields=["room", "from_time"], name="installation_room_from")]

    def __str__(self) -> str:
        return f"{self.node} in {self.room.name} from {self.from_time:%Y-%m-%d}"

    @property
    def is_open_ended(self) -> bool:
        return self.to_time >= END_OF_TIME

    def clean(self):
        errors = {}
        if self.node_id and self.room_id:
            node_owner = Node.objects.filter(pk=self.node_id).values_list("owner_id", flat=True).first()
            room_owner = Room.objects.filter(pk=self.room_id).values_list("site__operator_id", flat=True).first()
            if node_owner != room_owner:
                errors["room"] = "The room must belong to the organization that owns the node."
        if self.from_time and self.to_time:
            if self.from_time >= self.to_time:
                errors["to_time"] = "An installation must end after it starts."
            elif self.node_id:
                overlaps = Installation.objects.overlapping(self.node_id, self.from_time, self.to_time)
                if self.pk:
                    overlaps = overlaps.exclude(pk=self.pk)
                if overlaps.exists():
                    errors["from_time"] = "The node is installed elsewhere during this time."
        if errors:
            raise ValidationError(errors)

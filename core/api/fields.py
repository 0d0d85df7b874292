"""Serializer fields that speak the API's dialect: Unix seconds, scoped relationships."""

from django.db.models import Prefetch
from rest_framework import serializers
from rest_framework.relations import ManyRelatedField
from rest_framework_json_api.relations import ResourceRelatedField

from core.timestamps import END_OF_TIME_S, from_unix, to_unix


class UnixSecondsField(serializers.IntegerField):
    """A ``timestamptz`` column as integer Unix seconds."""

    def to_internal_value(self, data):
        if isinstance(data, bool):  # JSON true is not a time.
            self.fail("invalid")
        seconds = super().to_internal_value(data)
        if not 0 <= seconds <= END_OF_TIME_S:
            raise serializers.ValidationError(f"Unix seconds between 0 and {END_OF_TIME_S}, please.")
        return from_unix(seconds)

    def to_representation(self, value):
        return to_unix(value)


class TypedRelatedField(ResourceRelatedField):
    """Works out its resource type once: DJA inflects the name with regular
    expressions for every row otherwise, most of a list's time."""

    def get_resource_type_from_included_serializer(self):
        try:
            return self._included_type
        except AttributeError:
            self._included_type = super().get_resource_type_from_included_serializer()
            return self._included_type


def visible_ids(request, scope) -> set:
    """The ids ``scope`` lets the caller see; one query per scope and request."""
    cache = request.__dict__.setdefault("_managair_visible_ids", {})
    if scope not in cache:
        cache[scope] = set(scope(request.user).values_list("pk", flat=True))
    return cache[scope]


class ScopedRelatedField(TypedRelatedField):
    """A to-one relationship that shows and accepts only what the caller may see.

    Reading with ``hide_invisible``, an invisible target renders as ``null``
    and is never included (a public installation's node stays private). Writing, it is "does not
    exist" — the same answer as for an id that really does not exist, so a
    write reveals nothing about other tenants.
    """

    def __init__(self, scope, *, hide_invisible: bool = False, **kwargs):
        self.scope = scope
        # Most targets are visible whenever their source is (a visible room's
        # site is visible); only where that is not so is reading checked.
        self.hide_invisible = hide_invisible
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.scope(self.context["request"].user)

    def get_attribute(self, instance):
        related = super().get_attribute(instance)
        if not self.hide_invisible or related is None:
            return related
        return related if related.pk in visible_ids(self.context["request"], self.scope) else None


def visible_prefetch(relation: str, scope, user) -> Prefetch:
    """Prefetch a to-many relation through its scope, into ``visible_<relation>``,
    which ``ScopedManyRelatedField`` then trusts without another query."""
    return Prefetch(relation, scope(user), to_attr=f"visible_{relation}")


class ScopedManyRelatedField(ManyRelatedField):
    """A read-only to-many relationship listing only what the caller may see,
    in ``relationships`` and in ``included`` alike, whichever view renders it."""

    def __init__(self, scope, **kwargs):
        self.scope = scope
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        prefetched = getattr(instance, f"visible_{self.source}", None)
        if prefetched is not None:
            return prefetched
        # Rendered where no view prefetched it (an included document).
        visible = visible_ids(self.context["request"], self.scope)
        return [related for related in super().get_attribute(instance) if related.pk in visible]


def scoped_many(model, scope) -> ScopedManyRelatedField:
    return ScopedManyRelatedField(
        scope=scope, child_relation=TypedRelatedField(read_only=True, model=model), read_only=True
    )


class Eui64Field(serializers.CharField):
    """An EUI-64 in any usual spelling (``70-B3-D5…``, ``70:b3:d5…``), stored
    as 16 lower-case hex digits; normalised before the validators see it."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return value.strip().lower().replace("-", "").replace(":", "")

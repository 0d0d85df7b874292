"""Serializer fields that speak the API's dialect: Unix seconds, scoped relationships."""

from rest_framework import serializers
from rest_framework_json_api.relations import ResourceRelatedField

from core.timestamps import END_OF_TIME_S, from_unix, to_unix


class UnixSecondsField(serializers.IntegerField):
    """A ``timestamptz`` column as integer Unix seconds."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", END_OF_TIME_S)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):  # JSON true is not a time.
            self.fail("invalid")
        return from_unix(super().to_internal_value(data))

    def to_representation(self, value):
        return to_unix(value)


class ScopedRelatedField(ResourceRelatedField):
    """A writable relationship that accepts only objects the caller can see.

    Anything else is "does not exist" — the same answer as for an id that
    really does not exist, so a write reveals nothing about other tenants.
    """

    def __init__(self, scope, **kwargs):
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.scope(self.context["request"].user)

"""Writes an ``AuditEntry`` whenever a tracked object is created, changed or
deleted through the ORM, whoever does it.

In a request, the actor and the source (API or admin) come from
``audit.middleware``; management commands and tasks are recorded with no actor
and source "other". Bulk SQL (``update()``, ``bulk_create()``, the ingest path,
the fidelity check) sends no model signals and is not recorded, which is what
we want for bookkeeping columns such as a key's ``last_used``. Neither are
fixtures loaded with ``loaddata`` (raw saves).

The entry is written on the change's connection right after the change: inside
the same transaction wherever the change runs in one (every write of the
admin, ``ScopedViewSet.save``, the services), so a rolled-back change leaves no
entry behind.

Addresses are not tracked: they belong to no organization (several
organizations' sites may share one); a site's change of address is recorded
as the site's.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Field, Model
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from audit.middleware import current_request
from audit.models import AuditEntry
from core import scoping
from core.models import Installation, Node, Room, Site
from ingest.models import IngestKey
from integrations.webhook.models import Webhook
from user_manager.models import Membership, Organization, User

TRACKED: tuple[type[Model], ...] = (Organization, Membership, Site, Room, Node, Installation, IngestKey, Webhook)

# A field whose name contains one of these never reaches the log, whatever its model.
_SECRET_WORDS = ("secret", "password", "token", "hash")
# Bookkeeping the server updates by itself, not a change anybody made.
_NOT_RECORDED = {IngestKey: {"last_used"}}


def connect() -> None:
    for model in TRACKED:
        uid = f"audit.{model._meta.label_lower}"
        pre_save.connect(_remember_stored, sender=model, dispatch_uid=f"{uid}.pre_save")
        post_save.connect(_record_save, sender=model, dispatch_uid=f"{uid}.post_save")
        if model is not Organization:
            pre_delete.connect(_remember_deleted, sender=model, dispatch_uid=f"{uid}.pre_delete")
            post_delete.connect(_record_delete, sender=model, dispatch_uid=f"{uid}.post_delete")
    post_delete.connect(_forget_organization, sender=Organization, dispatch_uid="audit.organization.forget")
    post_delete.connect(_forget_actor, sender=User, dispatch_uid="audit.user.forget")


# --- Signal receivers ----------------------------------------------------------------


def _remember_stored(sender, instance, raw, using, **kwargs) -> None:
    instance._audit_stored = None
    if raw or instance._state.adding or instance.pk is None:
        return
    stored = sender._base_manager.using(using).filter(pk=instance.pk).first()
    if stored is not None:
        instance._audit_stored = _snapshot(stored, _fields(sender))


def _record_save(sender, instance, created, raw, using, update_fields, **kwargs) -> None:
    stored = instance.__dict__.pop("_audit_stored", None)
    if raw:
        return
    fields = _fields(sender)
    if created:
        _write(instance, AuditEntry.Action.CREATE, _json_value(_snapshot(instance, fields)), using)
        return
    if update_fields is not None:
        fields = [field for field in fields if field.name in update_fields or field.attname in update_fields]
    before = stored or {}
    changes = {
        name: [_json_value(before.get(name)), _json_value(value)]
        for name, value in _snapshot(instance, fields).items()
        if stored is None or before[name] != value
    }
    if changes:
        _write(instance, AuditEntry.Action.UPDATE, changes, using)


def _remember_deleted(sender, instance, **kwargs) -> None:
    # While the whole cascade still exists: a room's site, an installation's node.
    instance._audit_deleted = (scoping.owning_organization_id(instance), str(instance))


def _record_delete(sender, instance, using, **kwargs) -> None:
    organization_id, object_repr = instance.__dict__.pop("_audit_deleted", (None, None))
    changes = _json_value(_snapshot(instance, _fields(sender)))
    _write(instance, AuditEntry.Action.DELETE, changes, using, organization_id, object_repr)


def _forget_organization(sender, instance, using, **kwargs) -> None:
    # An organization's log goes with it (CASCADE). What the cascade itself
    # deleted afterwards (its sites, nodes, ...) was recorded after the
    # log's rows were removed and would now point at no organization.
    AuditEntry.objects.using(using).filter(organization_id=instance.pk).delete()


def _forget_actor(sender, instance, using, **kwargs) -> None:
    # As for the organization: entries about a deleted person's memberships,
    # written while the deletion cascaded, keep only the name.
    AuditEntry.objects.using(using).filter(actor_id=instance.pk).update(actor=None)


# --- Writing an entry ------------------------------------------------------------------


def _write(instance, action, changes: dict, using, organization_id=None, object_repr=None) -> None:
    if organization_id is None:
        organization_id = scoping.owning_organization_id(instance)
    if organization_id is None:  # Nothing to file it under (its parent is already gone).
        return
    context = current_request.get()
    actor = context.user if context is not None else None
    AuditEntry.objects.using(using).create(
        organization_id=organization_id,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        model=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=(object_repr if object_repr is not None else str(instance))[:200],
        changes=changes,
        source=context.source if context is not None else AuditEntry.Source.OTHER,
    )


# --- Values ------------------------------------------------------------------------------


@cache
def _fields(model: type[Model]) -> list[Field]:
    """The fields of ``model`` the log records: not the primary key (that is
    the entry's ``object_id``), no secrets, no bookkeeping."""
    skipped = _NOT_RECORDED.get(model, set())
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key
        and field.name not in skipped
        and not any(word in field.name.lower() for word in _SECRET_WORDS)
    ]


def _snapshot(instance, fields: list[Field]) -> dict[str, Any]:
    """Field name -> value (a related object's id), comparable between a
    saved instance and the stored row."""
    return {field.name: _plain(field, field.value_from_object(instance)) for field in fields}


def _plain(field: Field, value):
    if isinstance(value, FieldFile):
        return value.name or None
    try:
        # As the database will store it: a room's size set as "20.0" equals the stored Decimal("20.0").
        return field.to_python(value)
    except ValidationError:
        return value


def _json_value(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | UUID):
        # Decimals as strings, as the API writes them.
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return str(value)

"""Backup and restore of the inventory as one JSON document.

The document holds organizations, their members, addresses, sites, rooms,
nodes and installations, and the catalog entries they use (quantities,
protocols, node models). Samples, fidelity state, ingest keys and webhooks
stay out: the first two are data rather than inventory, the last two secrets.

Objects keep their primary keys where other records name them by id (nodes,
organizations, addresses, sites, rooms, installations: archives and exports
refer to them). The catalog, users and memberships have ids that differ from
database to database, so they go by natural keys: a catalog entry by its name,
a user by username (with the e-mail address that must match), a membership by
organization and user. Passwords never leave the database: a user the restore
creates gets an unusable password and must reset it. Installation images are
kept as the stored file's name; the files themselves are MEDIA_ROOT's to back up.

Plain dicts rather than ``django.core.serializers``: the serializers know
primary keys and ``natural_key()`` methods, which our models lack and which
would not tell a restore "same object" from "conflicting object" anyway.
"""

import json
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from uuid import UUID

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.management.color import no_style
from django.db import DatabaseError, connection, models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from core.models import Address, Installation, Node, NodeModel, Protocol, Quantity, Room, Site
from user_manager.models import Membership, Organization, User

FORMAT = "managair-inventory"
VERSION = 1


class InvalidBackup(Exception):
    """The document is no inventory backup this version can read."""


class RestoreRefused(Exception):
    """The backup does not fit the database; nothing was written."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


class _Invalid(Exception):
    """One object cannot be restored; the message says why."""


class _Skipped(Exception):
    """One object refers to an object that failed already: reporting it too would only repeat that problem."""


@dataclass(frozen=True)
class Ref:
    """How the document names the target of a foreign key (or of each member of a many-to-many field)."""

    kind: str
    by: str  # "pk" or the target's natural key


@dataclass(frozen=True)
class Kind:
    name: str  # the key in the document's "objects"
    model: type[models.Model]
    key: tuple[str, ...]  # what identifies an object across databases
    fields: tuple[str, ...] = ()  # plain model fields, stored as they are
    refs: dict[str, Ref] = field(default_factory=dict)
    many: dict[str, Ref] = field(default_factory=dict)
    # What an existing object must share with the backup's; None: everything.
    compared: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()  # columns that are no model field (see the hooks)
    prefetch: tuple[str, ...] = ()  # what dump_extra reads, fetched for all objects of a backup at once
    dump_extra: Callable[[models.Model], dict] | None = None
    before_validation: Callable[[models.Model, dict], None] | None = None
    after_creation: Callable[[models.Model, dict], None] | None = None

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.key + self.fields + tuple(self.refs) + tuple(self.many) + self.extra))

    @property
    def keeps_pk(self) -> bool:
        return self.key == ("id",)


def _email_verified(user: User) -> dict:
    email = user.email.lower()
    verified = any(address.verified and address.email.lower() == email for address in user.emailaddress_set.all())
    return {"email_verified": bool(email) and verified}


def _without_password(user: User, entry: dict) -> None:
    user.set_unusable_password()


def _with_email_address(user: User, entry: dict) -> None:
    # Without an EmailAddress row allauth treats the address as unverified,
    # and with mandatory verification the user could not log in even after
    # resetting the password.
    if user.email:
        EmailAddress.objects.create(user=user, email=user.email, verified=entry["email_verified"] is True, primary=True)


# In the order a restore writes them: every kind refers only to kinds before it.
KINDS = (
    Kind("quantities", Quantity, key=("quantity",), fields=("base_unit",)),
    Kind("protocols", Protocol, key=("identifier",), fields=("num_uplink_msgs", "num_downlink_msgs")),
    Kind(
        "node_models", NodeModel, key=("name",), fields=("trade_name", "manufacturer", "sensor_type"),
        many={"quantities": Ref("quantities", "quantity")},
    ),
    # Users are here for the memberships: the e-mail address must match; names
    # and the verification only matter to users the restore creates.
    Kind(
        "users", User, key=("username",), fields=("email", "first_name", "last_name"), compared=("email",),
        extra=("email_verified",), prefetch=("emailaddress_set",), dump_extra=_email_verified,
        before_validation=_without_password, after_creation=_with_email_address,
    ),
    Kind(
        "organizations", Organization, key=("id",),
        fields=("name", "description", "notify_fidelity", "alive_period_s", "created"),
    ),
    Kind(
        "memberships", Membership, key=("organization", "user"), fields=("role",),
        refs={"organization": Ref("organizations", "pk"), "user": Ref("users", "username")},
    ),
    Kind(
        "addresses", Address, key=("id",), fields=("street1", "street2", "zip", "city", "latitude", "longitude"),
        refs={"created_by": Ref("users", "username")},
    ),
    Kind(
        "sites", Site, key=("id",), fields=("name", "description"),
        refs={"operator": Ref("organizations", "pk"), "address": Ref("addresses", "pk")},
    ),
    Kind(
        "rooms", Room, key=("id",), fields=("name", "description", "size_sqm", "height_m", "max_occupancy"),
        refs={"site": Ref("sites", "pk")},
    ),
    Kind(
        "nodes", Node, key=("id",), fields=("eui64", "alias", "description"),
        refs={
            "protocol": Ref("protocols", "identifier"),
            "model": Ref("node_models", "name"),
            "owner": Ref("organizations", "pk"),
        },
    ),
    Kind(
        "installations", Installation, key=("id",),
        fields=("from_time", "to_time", "description", "is_public", "image"),
        refs={"node": Ref("nodes", "pk"), "room": Ref("rooms", "pk")},
    ),
)  # fmt: skip
_KIND = {kind.name: kind for kind in KINDS}


# --- Backup -----------------------------------------------------------------


def backup(organization_ids: Collection[int] | None = None) -> dict:
    """The inventory as a JSON-ready dict: everything, or only what the given
    organizations own (with their members and the catalog entries they use)."""
    # One snapshot for all queries, so that no installation names a node
    # created between two of them (inside a caller's transaction it is that one's).
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        selection = _selection(organization_ids)
        objects = {kind.name: [_record(kind, obj) for obj in selection[kind.name]] for kind in KINDS}
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": _plain(timezone.now()),
        "organizations": sorted(organization_ids) if organization_ids is not None else "all",
        "objects": objects,
    }


def _selection(organization_ids: Collection[int] | None) -> dict[str, models.QuerySet]:
    if organization_ids is None:
        chosen = {kind.name: kind.model.objects.all() for kind in KINDS}
        chosen["users"] = User.objects.filter(
            models.Q(memberships__isnull=False) | models.Q(pk__in=Address.objects.values("created_by"))
        )
    else:
        unknown = set(organization_ids) - set(
            Organization.objects.filter(pk__in=organization_ids).values_list("pk", flat=True)
        )
        if unknown:
            raise LookupError(f"No organization with the id {', '.join(map(str, sorted(unknown)))}.")
        organizations = Organization.objects.filter(pk__in=organization_ids)
        nodes = Node.objects.filter(owner__in=organizations)
        sites = Site.objects.filter(operator__in=organizations)
        addresses = Address.objects.filter(sites__in=sites)
        node_models = NodeModel.objects.filter(nodes__in=nodes)
        chosen = {
            "quantities": Quantity.objects.filter(node_models__in=node_models),
            "protocols": Protocol.objects.filter(nodes__in=nodes),
            "node_models": node_models,
            "users": User.objects.filter(
                models.Q(memberships__organization__in=organizations) | models.Q(pk__in=addresses.values("created_by"))
            ),
            "organizations": organizations,
            "memberships": Membership.objects.filter(organization__in=organizations),
            "addresses": addresses,
            "sites": sites,
            "rooms": Room.objects.filter(site__in=sites),
            "nodes": nodes,
            "installations": Installation.objects.filter(node__in=nodes),
        }
    for kind in KINDS:
        by_name = [name for name, ref in kind.refs.items() if ref.by != "pk"]
        order = [f"{name}__{kind.refs[name].by}" if name in kind.refs else name for name in kind.key]
        chosen[kind.name] = (
            chosen[kind.name]
            .distinct()
            .select_related(*by_name)
            .prefetch_related(*kind.many, *kind.prefetch)
            .order_by(*order)
        )
    return chosen


def _record(kind: Kind, obj: models.Model, *, saved: bool = True) -> dict:
    """One object as the document holds it (without what an unsaved object cannot have yet)."""
    record = {}
    for name in kind.columns:
        if name in kind.refs:
            record[name] = _reference(obj, name, kind.refs[name])
        elif name in kind.many:
            if saved:
                record[name] = sorted(getattr(target, kind.many[name].by) for target in getattr(obj, name).all())
        elif name not in kind.extra:
            record[name] = _plain(getattr(obj, name))
    if kind.dump_extra and saved:
        record.update(kind.dump_extra(obj))
    return record


def _reference(obj: models.Model, name: str, ref: Ref):
    model_field = obj._meta.get_field(name)
    if ref.by == "pk":
        return _plain(getattr(obj, model_field.attname))
    target = getattr(obj, name)
    return None if target is None else getattr(target, ref.by)


def _plain(value):
    """A field's value as JSON: times in UTC with a Z, decimals as exact strings, images by file name."""
    if isinstance(value, FieldFile):
        return value.name or None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        # Normalized, so that 52.5 and the database's 52.500000 compare equal.
        return format(value.normalize(), "f")
    if isinstance(value, UUID):
        return str(value)
    return value


# --- Restore ----------------------------------------------------------------


def load_document(text: str) -> dict:
    """The parsed document, once it is known to be an inventory backup of a readable version."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidBackup(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidBackup(f'not a Managair inventory backup (it lacks "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise InvalidBackup(f"version {json.dumps(version)} is not one this Managair reads (version {VERSION})")
    objects = document.get("objects")
    if not isinstance(objects, dict):
        raise InvalidBackup('"objects" must be a JSON object with a list per kind')
    unknown = sorted(set(objects) - set(_KIND))
    if unknown:
        raise InvalidBackup(f'"objects" holds unknown kinds: {", ".join(unknown)} (known: {", ".join(_KIND)})')
    for name, entries in objects.items():
        if not isinstance(entries, list):
            raise InvalidBackup(f'"objects"."{name}" must be a list')
    return document


def count_objects(document: dict) -> int:
    return sum(len(entries) for entries in document["objects"].values())


@dataclass
class Restored:
    created: dict[str, int]
    unchanged: dict[str, int]


def restore(document: dict, *, dry_run: bool = False, advance: Callable[[], object] = lambda: None) -> Restored:
    """Write what the backup holds and the database lacks, in one transaction.

    Objects already there with the same content are left as they are, so a
    second restore of the same backup writes nothing. Any object that cannot
    be written (invalid, or different from the database's object with the
    same identity) makes the whole restore fail with ``RestoreRefused``
    listing every problem. Objects in the database but not in the backup stay.
    """
    outcome = Restored(created=defaultdict(int), unchanged=defaultdict(int))
    problems = []
    failed = defaultdict(set)  # per kind, the keys of objects that could not be restored
    with transaction.atomic():
        for kind in KINDS:
            for index, entry in enumerate(document["objects"].get(kind.name, [])):
                try:
                    created = _restore_one(kind, entry, failed)
                except _Skipped:
                    pass
                except _Invalid as problem:
                    problems.append(f"{_label(kind, index, entry)}: {problem}")
                    if isinstance(entry, dict) and len(kind.key) == 1:
                        failed[kind.name].add(_hashable(entry.get(kind.key[0])))
                else:
                    (outcome.created if created else outcome.unchanged)[kind.name] += 1
                advance()
        if problems:
            raise RestoreRefused(problems)
        if dry_run:
            transaction.set_rollback(True)
            return outcome
        # New rows take ids from the sequences, which know nothing of the ids
        # written here: without a reset the next new site may collide with a
        # restored one. (Not on a dry run: setval() outlives the rollback.)
        explicit = [kind.model for kind in KINDS if kind.keeps_pk and outcome.created[kind.name]]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), explicit):
                cursor.execute(statement)
    return outcome


def _restore_one(kind: Kind, entry, failed: dict[str, set]) -> bool:
    """Write one object unless it is there already; whether it was written."""
    if not isinstance(entry, dict):
        raise _Invalid("is not a JSON object")
    missing = [column for column in kind.columns if column not in entry]
    unknown = [column for column in entry if column not in kind.columns]
    if missing or unknown:
        shape = [f"lacks {', '.join(missing)}"] if missing else []
        shape += [f"has unknown {', '.join(unknown)}"] if unknown else []
        raise _Invalid("; ".join(shape))
    values, errors = {}, {}  # values by attname, as the model's constructor takes them
    for name in kind.key + kind.fields + tuple(kind.refs):
        model_field = kind.model._meta.get_field(name)
        try:
            if name in kind.key and entry[name] in (None, ""):
                raise ValidationError("is required")
            if name in kind.refs:
                values[model_field.attname] = _resolve(kind, name, entry[name], failed)
            else:
                values[model_field.attname] = _python(model_field, entry[name])
        except ValidationError as error:
            errors[name] = " ".join(error.messages)
    many = {}
    for name, ref in kind.many.items():
        names = entry[name]
        if not isinstance(names, list) or not all(isinstance(item, str) for item in names):
            errors[name] = f"must be a list of {ref.kind} names"
        else:
            many[name] = sorted(set(names))
    if errors:
        raise _Invalid(_describe(errors))

    identity = {attname: values[attname] for attname in (kind.model._meta.get_field(n).attname for n in kind.key)}
    existing = kind.model.objects.filter(**identity).first()
    candidate = kind.model(**values)
    if existing is not None:
        _compare(kind, existing, candidate, many)
        return False

    if kind.before_validation:
        kind.before_validation(candidate, entry)
    try:
        candidate.full_clean()
    except ValidationError as error:
        raise _Invalid(_describe(error.message_dict)) from None
    targets = {name: _many_targets(kind, name, names, failed) for name, names in many.items()}
    try:
        with transaction.atomic():
            candidate.save(force_insert=True)
            for model_field in kind.model._meta.concrete_fields:
                # auto_now_add overwrites the value on insert; the backup's is the real one.
                if getattr(model_field, "auto_now_add", False) and values.get(model_field.name) is not None:
                    kind.model.objects.filter(pk=candidate.pk).update(**{model_field.name: values[model_field.name]})
            for name, found in targets.items():
                getattr(candidate, name).set(found)
            if kind.after_creation:
                kind.after_creation(candidate, entry)
    except DatabaseError as error:
        raise _Invalid(f"the database refused it: {str(error).strip().splitlines()[0]}") from None
    return True


def _python(model_field, raw):
    """A plain column's value as the model field holds it."""
    if raw is not None and not isinstance(raw, str | int | float | bool):
        raise ValidationError("must be a string, number, boolean or null")
    if isinstance(model_field, models.FileField):
        if raw is not None and not isinstance(raw, str):
            raise ValidationError("must be a file name or null")
        return raw or None
    value = model_field.to_python(raw)
    if isinstance(value, datetime) and timezone.is_naive(value):
        raise ValidationError("needs a time zone (e.g. 2024-01-01T00:00:00Z)")
    return value


def _resolve(kind: Kind, name: str, raw, failed: dict[str, set]):
    """The primary key of the object a reference names, if it is in the database (by now)."""
    model_field = kind.model._meta.get_field(name)
    if raw is None:
        if model_field.null:
            return None
        raise ValidationError("must name an object")
    if not isinstance(raw, str | int):
        raise ValidationError("must be an id or a name")
    ref = kind.refs[name]
    target = model_field.related_model
    lookup = model_field.target_field.to_python(raw) if ref.by == "pk" else raw
    found = target.objects.filter(**{ref.by: lookup}).values_list("pk", flat=True).first()
    if found is None:
        if _hashable(raw) in failed[ref.kind]:
            raise _Skipped
        raise ValidationError(f"{ref.kind} {json.dumps(raw)} is neither in the backup nor in the database")
    return found


def _many_targets(kind: Kind, name: str, names: list[str], failed: dict[str, set]) -> list:
    ref = kind.many[name]
    target = kind.model._meta.get_field(name).related_model
    found = list(target.objects.filter(**{f"{ref.by}__in": names}))
    absent = sorted(set(names) - {getattr(item, ref.by) for item in found})
    if any(_hashable(item) in failed[ref.kind] for item in absent):
        raise _Skipped
    if absent:
        raise _Invalid(
            f"{name}: {ref.kind} {', '.join(map(json.dumps, absent))} are neither in the backup nor in the database"
        )
    return found


def _compare(kind: Kind, existing: models.Model, candidate: models.Model, many: dict[str, list]) -> None:
    stored = _record(kind, existing)
    wanted = {**_record(kind, candidate, saved=False), **many}
    compared = kind.compared or tuple(name for name in kind.columns if name not in kind.key and name not in kind.extra)
    differences = [
        f"{name} is {json.dumps(wanted[name], ensure_ascii=False)} in the backup "
        f"but {json.dumps(stored[name], ensure_ascii=False)} in the database"
        for name in compared
        if wanted[name] != stored[name]
    ]
    if differences:
        raise _Invalid("differs from the object in the database: " + "; ".join(differences))


def _describe(errors: dict[str, list[str] | str]) -> str:
    parts = []
    for name, messages in errors.items():
        text = messages if isinstance(messages, str) else " ".join(messages)
        parts.append(text if name == "__all__" else f"{name}: {text}")
    return "; ".join(parts)


def _label(kind: Kind, index: int, entry) -> str:
    if not isinstance(entry, dict):
        return f"{kind.name}[{index}]"
    identity = ", ".join(f"{name} {json.dumps(entry.get(name), ensure_ascii=False)}" for name in kind.key)
    return f"{kind.name}[{index}] ({identity})"


def _hashable(raw):
    return json.dumps(raw)

"""``manage.py ingest_key``: create, list, rotate and revoke the keys gateways
send to the ingest path.

A new key goes to stdout alone, so that ``KEY=$(manage.py ingest_key create …)``
captures just the key; what to do with it goes to stderr.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ingest.keys import ingest_key_create, ingest_key_revoke, ingest_key_rotate
from ingest.models import IngestKey
from user_manager.management import find_organization

_ONCE = "Copy it now: it is stored hashed and cannot be shown again."
_COLUMNS = ("id", "organization", "name", "prefix", "created", "last used", "revoked")


class Command(BaseCommand):
    help = "Create, list, rotate and revoke ingest keys (what gateways send as 'Authorization: Bearer <key>')."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,rotate,revoke}")

        create = actions.add_parser(
            "create",
            help="Create a key and print it (once).",
            description="Create a key for an organization. The key is printed to stdout, once: "
            "only its hash is stored.",
        )
        create.add_argument("--organization", required=True, help="The organization's id or exact name.")
        create.add_argument("--name", required=True, help="What the key is for, e.g. the gateway's name.")

        listing = actions.add_parser(
            "list", help="List keys.", description="List ingest keys (never the keys themselves)."
        )
        listing.add_argument("--organization", help="Only this organization's keys (id or exact name).")

        rotate = actions.add_parser(
            "rotate",
            help="Replace a key by a new one and print it (once).",
            description="Revoke a key and create one with the same name and organization; "
            "the new key is printed to stdout, once. The old key stops working at once.",
        )
        rotate.add_argument("id", type=int, help="The key's id (see 'list').")

        revoke = actions.add_parser(
            "revoke",
            help="Revoke a key.",
            description="Revoke a key for good: gateways sending it are refused from now on.",
        )
        revoke.add_argument("id", type=int, help="The key's id (see 'list').")

    def handle(self, *args, action: str, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_create(self, *, organization: str, name: str, **options) -> None:
        name = name.strip()
        if not name:
            raise CommandError("--name must not be empty.")
        max_length = IngestKey._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"--name may have at most {max_length} characters.")
        key, plain = ingest_key_create(find_organization(organization), name)
        self.print_key(plain, f"Created key {key.pk} “{key.name}” of {key.organization}.")

    def handle_list(self, *, organization: str | None, **options) -> None:
        keys = IngestKey.objects.select_related("organization")
        if organization is not None:
            keys = keys.filter(organization=find_organization(organization))
        rows = [_row(key) for key in keys]
        if not rows:
            self.stdout.write("No ingest keys.")
            return
        widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
        for row in [_COLUMNS, *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def handle_rotate(self, *, id: int, **options) -> None:
        key = find_key(id)
        if key.revoked:
            raise CommandError(f"Key {id} is revoked; create a new key instead.")
        replacement, plain = ingest_key_rotate(key)
        self.print_key(
            plain,
            f"Key {id} is revoked; its replacement is key {replacement.pk} “{replacement.name}” "
            f"of {replacement.organization}. Give the gateway the new key now.",
        )

    def handle_revoke(self, *, id: int, **options) -> None:
        key = find_key(id)
        if key.revoked:
            self.stdout.write(f"Key {id} “{key.name}” of {key.organization} was revoked already.")
            return
        ingest_key_revoke(key)
        self.stdout.write(f"Revoked key {id} “{key.name}” of {key.organization}.")

    def print_key(self, plain: str, note: str) -> None:
        self.stderr.write(f"{note} {_ONCE}")
        self.stdout.write(plain)


def find_key(id: int) -> IngestKey:
    key = IngestKey.objects.select_related("organization").filter(pk=id).first()
    if key is None:
        raise CommandError(f"No ingest key with id {id}; 'manage.py ingest_key list' shows them.")
    return key


def _row(key: IngestKey) -> tuple[str, ...]:
    return (
        str(key.pk),
        key.organization.name,
        key.name,
        key.prefix,
        _time(key.created),
        _time(key.last_used) if key.last_used else "never",
        "yes" if key.revoked else "no",
    )


def _time(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"

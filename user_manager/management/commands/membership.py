"""``manage.py membership``: add a member to an organization, change their
role, or remove them, keeping the rule that an organization never loses its
last owner (see ``user_manager.services``)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from user_manager.management import find_organization, find_user
from user_manager.models import Membership
from user_manager.services import LastOwnerError, membership_change_role, membership_remove

ROLES = {"owner": Membership.Role.OWNER, "inspector": Membership.Role.INSPECTOR}
# The names the command takes, rather than the role's (possibly translated) label.
ROLE_NAMES = {value: name for name, value in ROLES.items()}


class Command(BaseCommand):
    help = "Add a member to an organization, change a member's role, or remove a member."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,remove}")

        add = actions.add_parser(
            "add",
            help="Add a member, or change the role of an existing one.",
            description="Make USER a member of ORGANIZATION with the given role. If USER is a member already, "
            "their role changes to the given one; the last owner cannot be made an inspector.",
        )
        _target_arguments(add)
        # Required, so that adding an existing owner again never demotes them by default.
        add.add_argument(
            "--role", required=True, choices=ROLES,
            help="owner: sees and changes everything of the organization; inspector: sees it.",
        )  # fmt: skip

        remove = actions.add_parser(
            "remove",
            help="Remove a member.",
            description="Remove USER from ORGANIZATION. The last owner cannot be removed.",
        )
        _target_arguments(remove)

    def handle(self, *args, action: str, organization: str, user: str, **options):
        organization = find_organization(organization)
        user = find_user(user)
        try:
            getattr(self, f"handle_{action}")(organization=organization, user=user, **options)
        except LastOwnerError as error:
            raise CommandError(str(error)) from error

    def handle_add(self, *, organization, user, role: str, **options) -> None:
        new_role = ROLES[role]
        with transaction.atomic():
            membership = _membership(organization, user)
            if membership is None:
                try:
                    # Adding breaks no rule about owners, so there is no service for it.
                    with transaction.atomic():
                        Membership.objects.create(organization=organization, user=user, role=new_role)
                except IntegrityError as error:
                    raise CommandError(f"{user} joined “{organization}” at the same moment; run again.") from error
                self.stdout.write(f"Added {user} to “{organization}” as {role}.")
                return
            old_role = ROLE_NAMES[membership.role]
            if membership.role == new_role:
                self.stdout.write(f"{user} is {role} of “{organization}” already; nothing changed.")
                return
            membership_change_role(membership=membership, role=new_role)
        self.stdout.write(f"{user} was {old_role} of “{organization}” and is {role} now.")

    def handle_remove(self, *, organization, user, **options) -> None:
        with transaction.atomic():
            membership = _membership(organization, user)
            if membership is None:
                raise CommandError(f"{user} is not a member of “{organization}”.")
            membership_remove(membership=membership)
        self.stdout.write(f"Removed {user} from “{organization}”.")


def _target_arguments(parser) -> None:
    parser.add_argument("organization", metavar="ORGANIZATION", help="The organization's id or exact name.")
    parser.add_argument("user", metavar="USER", help="The user's username or e-mail address.")


def _membership(organization, user) -> Membership | None:
    return Membership.objects.select_for_update().filter(organization=organization, user=user).first()

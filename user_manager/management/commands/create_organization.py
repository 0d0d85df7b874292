"""``manage.py create_organization``: a new organization with its first owner,
who may be created on the way (without a password: they choose one through
the password reset, so nothing secret passes through the shell)."""

from allauth.account.models import EmailAddress
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from user_manager.management import find_user
from user_manager.models import Organization, User
from user_manager.services import organization_create


class Command(BaseCommand):
    help = (
        "Create an organization whose first owner is an existing user (--owner), or a new one (--create-user --email)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The organization's name (unique, at most 50 characters).")
        parser.add_argument(
            "--owner", required=True, metavar="USER",
            help="The first owner: a username or e-mail address; with --create-user, the new user's username.",
        )  # fmt: skip
        parser.add_argument("--description", default="", help="What the organization is, shown to its members.")
        parser.add_argument(
            "--create-user", action="store_true",
            help="Create the owner, without a password: they choose one with “Forgot your password?” "
            "on the log-in page. Needs --email.",
        )  # fmt: skip
        parser.add_argument("--email", help="The new user's e-mail address (only with --create-user).")

    def handle(self, *args, name: str, owner: str, description: str, create_user: bool, email: str | None, **options):
        if email is not None and not create_user:
            raise CommandError("--email only goes with --create-user; an existing owner keeps their address.")
        if create_user and not email:
            raise CommandError("--create-user needs --email: the new owner sets their password through it.")
        name = name.strip()
        taken = Organization.objects.filter(name=name).first()
        if taken is not None:
            raise CommandError(f"An organization named “{name}” exists already (id {taken.pk}).")
        _validate(Organization(name=name, description=description))

        try:
            with transaction.atomic():
                user = _new_user(owner, email) if create_user else find_user(owner)
                organization = organization_create(name=name, description=description, creator=user)
        except IntegrityError as error:
            # Someone else took the name (or the username) between the check and the insert.
            raise CommandError(f"Nothing created: {error}".strip()) from error

        if create_user:
            self.stdout.write(
                f"Created user “{user.username}” <{user.email}> without a password; they choose one with "
                "“Forgot your password?” on the log-in page."
            )
        self.stdout.write(
            f"Created organization “{organization.name}” (id {organization.pk}) owned by {user.username}."
        )


def _new_user(username: str, email: str) -> User:
    if User.objects.filter(username=username).exists():
        raise CommandError(f"A user “{username}” exists already; leave out --create-user to make them the owner.")
    holder = User.objects.filter(email__iexact=email).first()
    if holder is not None:
        raise CommandError(
            f"The e-mail address {email} belongs to “{holder.username}” already; "
            f"give --owner {holder.username} without --create-user."
        )
    user = User(username=username, email=User.objects.normalize_email(email))
    user.set_unusable_password()
    _validate(user)
    user.save()
    # Unverified: mandatory verification asks them to confirm it when they first log in.
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    return user


def _validate(instance) -> None:
    try:
        instance.full_clean()
    except ValidationError as error:
        raise CommandError(
            " ".join(
                " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
                for field, messages in error.message_dict.items()
            )
        ) from error

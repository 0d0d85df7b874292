"""Lookups shared by the commands: find an organization or a user the way a
person names them on the command line, or fail with a message that helps."""

from django.core.management.base import CommandError
from django.db.models import Q

from user_manager.models import Organization, User


def find_organization(id_or_name: str) -> Organization:
    by_name = Organization.objects.filter(name=id_or_name).first()
    by_id = Organization.objects.filter(pk=int(id_or_name)).first() if id_or_name.isdigit() else None
    if by_name and by_id and by_name != by_id:
        raise CommandError(
            f"“{id_or_name}” is ambiguous: the id of “{by_id}” and the name of the organization "
            f"with id {by_name.pk}. Rename one of them."
        )
    found = by_name or by_id
    if found is None:
        message = f"No organization with the id or name “{id_or_name}”."
        similar = list(Organization.objects.filter(name__icontains=id_or_name)[:5])
        if similar:
            message += " Did you mean " + " or ".join(f"“{o.name}” (id {o.pk})" for o in similar) + "?"
        raise CommandError(message)
    return found


def find_user(username_or_email: str) -> User:
    by_username = User.objects.filter(username=username_or_email).first()
    # E-mail addresses are unique regardless of case (see the User model's constraint).
    by_email = User.objects.filter(email__iexact=username_or_email).first() if "@" in username_or_email else None
    if by_username and by_email and by_username != by_email:
        raise CommandError(
            f"“{username_or_email}” is ambiguous: the username of one user and the e-mail address "
            f"of “{by_email.username}”. Give the other user's username instead."
        )
    found = by_username or by_email
    if found is None:
        message = f"No user with the username or e-mail address “{username_or_email}”."
        similar = list(
            User.objects.filter(
                Q(username__icontains=username_or_email) | Q(email__icontains=username_or_email)
            ).order_by("username")[:5]
        )
        if similar:
            message += " Did you mean " + " or ".join(f"“{u.username}”" for u in similar) + "?"
        raise CommandError(message)
    return found

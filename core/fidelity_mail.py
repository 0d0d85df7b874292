"""The e-mail owners get about their nodes going down and coming back: one
per organization and check, however many nodes changed (a gateway outage
takes down dozens at once)."""

from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from core.models import Node
from core.models.fidelity import Fidelity
from user_manager.models import Membership, Organization

_HEADINGS = {
    Fidelity.MISSING: "Missing (no sample within the alive period)",
    Fidelity.DEAD: "Dead (no sample within twice the alive period)",
    Fidelity.ALIVE: "Back (reporting again)",
}


def send_notification(payload: dict) -> int:
    """Send ``payload`` (organization, at, changes [[node, old, new]],
    reminders [[node, fidelity]]) to the organization's owners, one message
    each. Returns how many went out; none when the organization switched
    notifications off meanwhile or has no owner with an address."""
    organization = Organization.objects.filter(pk=payload["organization"], notify_fidelity=True).first()
    if organization is None:
        return 0
    recipients = sorted(
        set(
            Membership.objects.filter(
                organization=organization, role=Membership.Role.OWNER, user__is_active=True
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        return 0
    subject, body = compose(organization, payload)
    messages = [EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in recipients]
    return get_connection().send_messages(messages) or 0


def compose(organization: Organization, payload: dict) -> tuple[str, str]:
    node_ids = [change[0] for change in payload["changes"]] + [reminder[0] for reminder in payload["reminders"]]
    nodes = {str(node.pk): node for node in Node.objects.filter(pk__in=node_ids, owner=organization).select_related("fidelity")}
    at = datetime.fromisoformat(payload["at"])
    groups: dict[str, list[str]] = {status: [] for status in _HEADINGS}
    for node_id, _old, new in payload["changes"]:
        groups[new].append(_line(nodes.get(node_id), node_id))
    reminders = [_line(nodes.get(node_id), node_id, status) for node_id, status in payload["reminders"]]

    counts = [f"{len(groups[s])} {label}" for s, label in
              ((Fidelity.MISSING, "missing"), (Fidelity.DEAD, "dead"), (Fidelity.ALIVE, "back")) if groups[s]]
    if reminders:
        counts.append(f"{len(reminders)} still down")
    subject = f"[Managair] {organization.name}: {', '.join(counts)}"

    parts = [f"The node check of {at:%Y-%m-%d %H:%M} UTC found for {organization.name}:"]
    for status, heading in _HEADINGS.items():
        if groups[status]:
            parts.append(f"{heading}:\n" + "\n".join(groups[status]))
    if reminders:
        parts.append("Still down (a reminder):\n" + "\n".join(reminders))
    parts.append(
        "You get this because you own the organization. Owners can switch these e-mails off "
        "(the organization's notify_fidelity)."
    )
    return subject, "\n\n".join(parts) + "\n"


def _line(node: Node | None, node_id: str, status: str | None = None) -> str:
    if node is None:
        return f"- {node_id} (deleted since)"
    name = node.alias or node.eui64
    fidelity = getattr(node, "fidelity", None)
    contact = fidelity.last_contact if fidelity is not None else None
    last = f"last sample arrived {contact:%Y-%m-%d %H:%M} UTC" if contact else "never reported"
    state = f"{Fidelity(status).label}, " if status else ""
    return f"- {name} ({node.eui64}): {state}{last}"

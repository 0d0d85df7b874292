"""Remembers who is making the current request, so that model changes can be attributed."""

from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest

from audit.models import AuditEntry


@dataclass(frozen=True)
class RequestContext:
    request: HttpRequest
    source: str

    @property
    def user(self):
        # Read when a change is recorded, not when the request comes in: the
        # REST framework authenticates tokens in the view and then sets the
        # user on the Django request as well.
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None


#: The request being served on this thread or task; None outside requests.
current_request: ContextVar[RequestContext | None] = ContextVar("audit_current_request", default=None)


def source_of(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditEntry.Source.ADMIN
    if path.startswith("/api/"):
        return AuditEntry.Source.API
    return AuditEntry.Source.OTHER


class AuditActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(RequestContext(request, source_of(request.path_info)))
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)

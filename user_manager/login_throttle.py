"""Brakes on guessing passwords and on mail-bombing through password resets.

Failed log-ins are counted by django-axes (settings: ``AXES_*``) for every
door — the admin, allauth's pages and the API — because all of them end in
``django.contrib.auth.authenticate``. This module gives axes our answers: which
user name was tried, and what a locked-out client sees. The API's own rates
(DRF throttles) are set in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``.
"""

from axes.backends import AxesStandaloneBackend
from dj_rest_auth.views import LoginView, PasswordResetView
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from managair.errors import error_document


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes, except for log-ins that come from no client at all (code calling
    ``authenticate()`` without a request, the test client's ``login()``):
    there is no one to lock out, and axes would raise."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def attempted_username(request, credentials: dict | None) -> str | None:
    """The name a client tried to log in with, in one spelling: people log in
    with their user name or their e-mail address, in any case, and guesses
    through either count together."""
    for source in (credentials or {}, getattr(request, "POST", {}) or {}):
        for field in ("username", "email", "login"):
            value = str(source.get(field) or "").strip()
            if value:
                if "@" in value:
                    value = (
                        get_user_model().objects.filter(email__iexact=value).values_list("username", flat=True).first()
                        or value
                    )
                return value.lower()
    return None


def locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """What a client sees while locked out: a JSON:API error below /api/, a
    short page elsewhere; both with Retry-After."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    detail = "Too many failed log-ins. Try again later or reset your password."
    if request.path.startswith("/api/"):
        response = error_document(429, detail, "too_many_login_failures")
    else:
        response = HttpResponse(
            f"<!doctype html><title>Too many failed log-ins</title><h1>Too many failed log-ins</h1><p>{detail}</p>",
            status=429,
        )
    response["Retry-After"] = retry_after
    return response


class PasswordResetEmailThrottle(SimpleRateThrottle):
    """Reset mails to one address, whoever asks: a stranger must not be able
    to flood someone's inbox from many addresses."""

    scope = "password_reset_email"

    def get_cache_key(self, request, view):
        email = str(request.data.get("email", "")).strip().lower() if hasattr(request, "data") else ""
        if not email:
            return None
        return self.cache_format % {"scope": self.scope, "ident": email}


class ThrottledLoginView(LoginView):
    """dj-rest-auth's log-in. Axes marks the request it was given, which here
    is DRF's wrapper; its middleware looks at Django's request underneath."""

    resource_name = "LoginView"  # the JSON:API type clients send, as before

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        finally:
            if getattr(request, "axes_locked_out", False):
                request._request.axes_locked_out = True
                request._request.axes_credentials = getattr(request, "axes_credentials", None)


class ThrottledPasswordResetView(PasswordResetView):
    resource_name = "PasswordResetView"
    throttle_classes = [ScopedRateThrottle, PasswordResetEmailThrottle]

"""API errors beyond DRF's own."""

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error
from rest_framework import status
from rest_framework.exceptions import APIException


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


_MACHINE_PATHS = ("/api/", "/ingest/")


def not_found(request, exception=None):
    if request.path.startswith(_MACHINE_PATHS):
        return error_document(404, "Not found.", "not_found")
    return page_not_found(request, exception)


def internal_error(request):
    """A failure nobody foresaw (a database gone away): clients of the API get
    an error document they can parse, not an HTML page. The details go to the
    log and Sentry, never into the answer."""
    if request.path.startswith(_MACHINE_PATHS):
        return error_document(500, "The server failed to answer. Try again later.", "server_error")
    return server_error(request)


def error_document(status_code: int, detail: str, code: str) -> JsonResponse:
    """A JSON:API error answer for what DRF's exception handler never sees."""
    document = {"errors": [{"detail": detail, "status": str(status_code), "code": code}]}
    return JsonResponse(document, status=status_code, content_type="application/vnd.api+json")

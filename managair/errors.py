"""API errors beyond DRF's own."""

from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework import status
from rest_framework.exceptions import APIException


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def not_found(request, exception=None):
    if request.path.startswith(("/api/", "/ingest/")):
        document = {"errors": [{"detail": "Not found.", "status": "404", "code": "not_found"}]}
        return JsonResponse(document, status=404, content_type="application/vnd.api+json")
    return page_not_found(request, exception)

"""Health endpoints for load balancers and orchestrators (``/readyz`` follows in 7/8)."""

from django.http import JsonResponse


def liveness(request):
    """The process answers; nothing else is checked, so it never flaps with the database."""
    return JsonResponse({"status": "ok", "checks": {}})

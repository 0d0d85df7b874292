"""The webhooks resource of /api/v1/ (mounted beside core's resources)."""

from django.urls import include, path

from core.api.urls import OptionalSlashRouter
from integrations.webhook.api.views import WebhookViewSet

router = OptionalSlashRouter()
router.include_root_view = False
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = [path("", include(router.urls))]

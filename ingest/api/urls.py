"""The ingest-keys resource of /api/v1/ (mounted beside core's resources)."""

from django.urls import include, path

from core.api.urls import OptionalSlashRouter
from ingest.api.views import IngestKeyViewSet

router = OptionalSlashRouter()
# /api/v1/ itself is core's API root; this router adds routes, not a second root.
router.include_root_view = False
router.register("ingest-keys", IngestKeyViewSet, basename="ingestkey")

urlpatterns = [path("", include(router.urls))]

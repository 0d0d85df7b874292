"""The audit log resource of /api/v1/ (mounted beside core's resources)."""

from django.urls import include, path

from audit.api.views import AuditEntryViewSet
from core.api.urls import OptionalSlashRouter

router = OptionalSlashRouter()
router.include_root_view = False
router.register("audit-entries", AuditEntryViewSet, basename="auditentry")

urlpatterns = [path("", include(router.urls))]

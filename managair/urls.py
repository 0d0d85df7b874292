"""The root URL map; see ../shared/API.md for the mounts clients rely on."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from managair import health

health_urls = [
    path("healthz", health.liveness, name="healthz"),
    path("healthz/", health.liveness),
]

ingest_urls = [path("ingest/v1/", include("ingest.urls"))]

if settings.INGEST_ONLY:
    urlpatterns = health_urls + ingest_urls
else:
    urlpatterns = health_urls + ingest_urls + [
        path("admin/", admin.site.urls),
        path("api/v1/", include("core.api.urls")),
        path("api/v1/auth/", include("dj_rest_auth.urls")),
        path("api/v1/auth/registration/", include("dj_rest_auth.registration.urls")),
        # After dj-rest-auth: both name a view "account_email_verification_sent",
        # and reverse() takes the one listed last, which must be the HTML page.
        path("accounts/", include("allauth.urls")),
        path("i18n/", include("django.conf.urls.i18n")),
        path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/v1/schema/swagger-ui/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path("api/v1/schema/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    ]
    if settings.DEBUG:
        urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

admin.site.site_header = "Managair administration"
admin.site.site_title = "Managair"

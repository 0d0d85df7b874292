"""The root URL map; see ../shared/API.md for the mounts clients rely on."""

from allauth.account.views import password_reset_from_key
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from managair import health
from user_manager.login_throttle import ThrottledLoginView, ThrottledPasswordResetView

health_urls = [
    path("healthz", health.liveness, name="healthz"),
    path("healthz/", health.liveness),
    path("readyz", health.readiness, name="readyz"),
    path("readyz/", health.readiness),
]

ingest_urls = [path("ingest/v1/", include("ingest.urls"))]

if settings.INGEST_ONLY:
    urlpatterns = health_urls + ingest_urls
else:
    urlpatterns = health_urls + ingest_urls + [
        path("admin/", admin.site.urls),
        path("api/v1/", include("ingest.api.urls")),
        path("api/v1/", include("integrations.webhook.api.urls")),
        path("api/v1/", include("audit.api.urls")),
        path("api/v1/", include("core.api.urls")),
        # dj-rest-auth's views, with log-in lockouts answered 429 and a limit on reset mails per address.
        re_path(r"^api/v1/auth/login/?$", ThrottledLoginView.as_view(), name="rest_login"),
        re_path(r"^api/v1/auth/password/reset/?$", ThrottledPasswordResetView.as_view(), name="rest_password_reset"),
        path("api/v1/auth/", include("dj_rest_auth.urls")),
        path("api/v1/auth/registration/", include("dj_rest_auth.registration.urls")),
        # The password-reset mail links to allauth's page; dj-rest-auth's mail
        # template asks for Django's name for it.
        re_path(
            r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
            password_reset_from_key,
            name="password_reset_confirm",
        ),
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

# Unknown URLs below /api/ and /ingest/ answer in JSON:API, not with an HTML page.
handler404 = "managair.errors.not_found"
handler500 = "managair.errors.internal_error"

admin.site.site_header = "Managair administration"
admin.site.site_title = "Managair"

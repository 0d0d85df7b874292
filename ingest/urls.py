"""``/ingest/v1/``: where gateways send samples."""

from django.urls import path

from ingest import views

urlpatterns = [
    path("ingest/", views.ingest, name="ingest"),
    path("ingest", views.ingest),
]

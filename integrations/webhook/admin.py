from django.contrib import admin
from django.db import models

from integrations.webhook.models import Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("url", "organization", "is_active", "created")
    list_select_related = ("organization",)
    list_filter = ("is_active",)
    search_fields = ("url", "organization__name")
    autocomplete_fields = ("organization",)
    # The secret is the organization's to know, shown once by the API.
    fields = ("organization", "url", "is_active", "created")
    readonly_fields = ("created",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

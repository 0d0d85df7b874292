from django.contrib import admin

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The log as it was written: staff read it, nobody edits it."""

    list_display = ("timestamp", "organization", "actor_name", "source", "action", "model", "object_repr")
    list_select_related = ("organization",)
    list_filter = ("action", "model", "source")
    search_fields = ("object_repr", "actor_name")
    date_hierarchy = "timestamp"
    fields = (
        "timestamp", "organization", "actor", "actor_name", "source", "action", "model", "object_id", "object_repr",
        "changes",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

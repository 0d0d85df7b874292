"""Forwarding in the admin: each installation's state per destination (last
sent, backlog, last error) and the dead letters, which staff can retry."""

from django.contrib import admin, messages

from integrations.drain import retry_dead
from integrations.models import Batch, Stream


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = ("installation", "integration", "destination", "last_sent", "backlog", "dead_letters", "last_error")
    list_select_related = ("installation__node", "installation__room")
    list_filter = ("integration",)
    search_fields = ("installation__node__alias", "installation__room__name", "destination")
    search_help_text = "Node alias, room or destination (a webhook's id)."
    readonly_fields = [field.name for field in Stream._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()

    @admin.display(description="backlog", ordering="backlog")
    def backlog(self, stream):
        return stream.backlog

    @admin.display(description="dead batches", ordering="dead_letters")
    def dead_letters(self, stream):
        return stream.dead_letters

    def has_add_permission(self, request):
        return False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "stream", "state", "size", "attempts", "created", "last_error")
    list_select_related = ("stream__installation__node", "stream__installation__room")
    list_filter = ("state", "stream__integration")
    readonly_fields = ("id", "stream", "state", "size", "attempts", "created", "last_error")
    actions = ("retry",)

    @admin.action(description="Retry selected dead letters")
    def retry(self, request, queryset):
        count = retry_dead(queryset)
        self.message_user(request, f"{count} batch(es) will be sent again.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

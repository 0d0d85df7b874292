"""Ingest keys in the admin: staff create, revoke and rotate them for an
organization. A new key is shown once, in a message; only its hash is kept."""

from django.contrib import admin, messages
from django.utils.html import format_html

from ingest.keys import ingest_key_create, ingest_key_revoke, ingest_key_rotate
from ingest.models import IngestKey

_ONCE = "Copy it now: it is stored hashed and cannot be shown again."


@admin.register(IngestKey)
class IngestKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "prefix", "created", "last_used", "revoked")
    list_select_related = ("organization",)
    list_filter = ("revoked",)
    search_fields = ("name", "prefix")
    search_help_text = "Name or prefix (the key's first 8 characters)."
    autocomplete_fields = ("organization",)
    actions = ("revoke", "rotate")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("organization", "name")
        return ("name", "organization", "prefix", "created", "last_used", "revoked")

    def get_readonly_fields(self, request, obj=None):
        # A key keeps its organization, and revoking is for good: the
        # actions do it, and no checkbox can take it back.
        return () if obj is None else ("organization", "prefix", "created", "last_used", "revoked")

    def save_model(self, request, obj, form, change):
        if change:
            # Only the name is editable: writing the other columns back could
            # undo a revocation or a last use recorded since this request read the row.
            obj.save(update_fields=["name"])
            return
        key, plain = ingest_key_create(obj.organization, obj.name)
        # The admin goes on with ``obj`` (log entry, redirect): make it the stored key.
        obj.__dict__.update(key.__dict__)
        _show_key(request, key, plain)

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked=False))
        for key in keys:
            ingest_key_revoke(key)
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)

    @admin.action(description="Rotate selected keys")
    def rotate(self, request, queryset):
        revoked = 0
        for key in queryset.select_related("organization"):
            if key.revoked:
                # Rotating would bring a revoked key's name back to life.
                revoked += 1
                continue
            replacement, plain = ingest_key_rotate(key)
            _show_key(request, replacement, plain)
        if revoked:
            self.message_user(request, f"Skipped {revoked} revoked key(s): add a new key instead.", messages.WARNING)


def _show_key(request, key: IngestKey, plain: str) -> None:
    messages.success(
        request,
        format_html("The new key “{}” of {}: <code>{}</code> {}", key.name, key.organization, plain, _ONCE),
    )

from django.contrib import admin

from integrations.stadtpuls.models import Sensor


@admin.register(Sensor)
class SensorAdmin(admin.ModelAdmin):
    """Which installation is which Stadtpuls sensor (kept by the transport;
    deleting a row makes the next batch register the installation again)."""

    list_display = ("installation", "sensor_id", "registered")
    list_select_related = ("installation__node", "installation__room")
    search_fields = ("sensor_id", "installation__node__alias", "installation__room__name")
    readonly_fields = ("installation", "sensor_id", "registered")

    def has_add_permission(self, request):
        return False

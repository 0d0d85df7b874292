"""The catalog: small tables staff maintain for everyone."""

from django.contrib import admin

from core.models import NodeModel, Protocol, Quantity


@admin.register(Quantity)
class QuantityAdmin(admin.ModelAdmin):
    list_display = ("quantity", "base_unit")
    search_fields = ("quantity", "base_unit")


@admin.register(Protocol)
class ProtocolAdmin(admin.ModelAdmin):
    list_display = ("identifier", "num_uplink_msgs", "num_downlink_msgs")
    search_fields = ("identifier",)


@admin.register(NodeModel)
class NodeModelAdmin(admin.ModelAdmin):
    list_display = ("name", "trade_name", "manufacturer", "sensor_type")
    list_filter = ("manufacturer",)
    search_fields = ("name", "trade_name", "manufacturer")
    filter_horizontal = ("quantities",)

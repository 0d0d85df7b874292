"""The catalog: what kinds of nodes exist and what they measure.

Shared by all organizations; staff maintain it.
"""

from django.db import models


class Quantity(models.Model):
    quantity = models.CharField(max_length=30, unique=True)
    base_unit = models.CharField(max_length=30)

    class Meta:
        ordering = ["quantity"]
        verbose_name_plural = "quantities"

    def __str__(self) -> str:
        return f"{self.quantity} [{self.base_unit}]"


class Protocol(models.Model):
    """A node's uplink protocol (payload format), e.g. ``CLAIRCHEN``."""

    identifier = models.CharField(max_length=30, unique=True)
    num_uplink_msgs = models.PositiveIntegerField(default=1)
    num_downlink_msgs = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier


class NodeModel(models.Model):
    """A kind of sensor node (the API calls this resource ``Model``)."""

    name = models.CharField(max_length=30, unique=True)
    trade_name = models.CharField(max_length=30, blank=True, default="")
    manufacturer = models.CharField(max_length=30)
    sensor_type = models.CharField(max_length=100)
    quantities = models.ManyToManyField(Quantity, related_name="node_models", blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "node model"

    def __str__(self) -> str:
        return self.name

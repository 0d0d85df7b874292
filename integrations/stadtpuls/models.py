from django.db import models

from core.models import Installation


class Sensor(models.Model):
    """The Stadtpuls sensor an installation was registered as (once: a second
    registration would split its records over two sensors)."""

    installation = models.OneToOneField(
        Installation, on_delete=models.CASCADE, primary_key=True, related_name="stadtpuls_sensor"
    )
    sensor_id = models.BigIntegerField(help_text="The sensor's id at Stadtpuls.")
    registered = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Stadtpuls sensor"

    def __str__(self) -> str:
        return f"Stadtpuls sensor {self.sensor_id} (installation {self.installation_id})"

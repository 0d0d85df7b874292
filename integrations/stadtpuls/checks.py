"""Warn at start when Stadtpuls is half configured: forwarding there would
silently never start."""

from django.conf import settings
from django.core import checks

from integrations.stadtpuls.forwarding import REQUIRED


@checks.register()
def stadtpuls_configuration(app_configs, **kwargs):
    given = [name for name in REQUIRED if settings.STADTPULS.get(name)]
    if not given or len(given) == len(REQUIRED):
        return []
    missing = ", ".join(f"SP_{name}" for name in REQUIRED if name not in given)
    return [
        checks.Warning(
            f"Stadtpuls is partly configured; samples are not forwarded there until {missing} are set.",
            id="stadtpuls.W001",
        )
    ]

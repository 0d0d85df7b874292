from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Inventory and samples"

    def ready(self):
        from core.schedules import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="core.ensure_schedules")

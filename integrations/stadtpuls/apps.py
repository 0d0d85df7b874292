from django.apps import AppConfig


class StadtpulsConfig(AppConfig):
    name = "integrations.stadtpuls"
    label = "stadtpuls"
    verbose_name = "Stadtpuls forwarding"

    def ready(self):
        from ingest.signals import sample_published
        from integrations import registry
        from integrations.stadtpuls import checks, forwarding  # noqa: F401  (checks registers itself)

        registry.register(registry.Integration(forwarding.NAME, forwarding.StadtpulsTransport, batch_size=500))
        sample_published.connect(forwarding.record, dispatch_uid="integrations.stadtpuls.record")

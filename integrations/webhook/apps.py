from django.apps import AppConfig


class WebhookConfig(AppConfig):
    name = "integrations.webhook"
    label = "webhook"
    verbose_name = "Webhooks"

    def ready(self):
        from django.db.models.signals import post_delete

        from ingest.signals import sample_published
        from integrations import registry
        from integrations.webhook import forwarding
        from integrations.webhook.models import Webhook

        registry.register(registry.Integration(forwarding.NAME, forwarding.WebhookTransport, batch_size=1000))
        sample_published.connect(forwarding.record, dispatch_uid="integrations.webhook.record")
        post_delete.connect(forwarding.forget, sender=Webhook, dispatch_uid="integrations.webhook.forget")

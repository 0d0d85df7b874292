"""Webhooks: owners give a URL per organization, and the public samples of
the organization's installations are POSTed there as signed JSON batches
(../shared/API.md, "Webhooks")."""

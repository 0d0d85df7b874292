"""The ingest-keys resource of /api/v1/: owners manage the keys their gateways send."""

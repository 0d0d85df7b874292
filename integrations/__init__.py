"""Forwarding of public samples to other IoT data platforms.

Each platform is a Django app of its own below this package
(``integrations/<platform>/``). Integrations subscribe to ingest's
``sample_published`` signal; ``core`` and ``ingest`` never import them.
"""

"""Forwarding public samples to other IoT data platforms.

This app holds what every platform shares: the outbox (``models``,
``outbox``), the drain that empties it through a platform's transport
(``drain``, ``transport``) and the list of platforms (``registry``). Each
platform is an app below this package (``stadtpuls``, ``webhook``) that
subscribes to ingest's ``sample_published`` signal, records what it must send
with ``outbox.record`` and registers its transport. Adding a platform means
adding one such app; core and ingest never import any of this.
"""

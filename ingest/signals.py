"""What ingest tells the rest of the system: ``sample_published``.

Sent once per stored batch, after the transaction that stored it committed,
with the new samples that fall inside a public installation's span
(``samples``: a list of ``PublishedSample``). Repeats of stored samples are not
sent again. Receivers (the forwarding integrations) must return quickly: the
gateway waits for them. Sent only when ``IOTDP_INTEGRATION`` is on.
"""

from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True, slots=True)
class PublishedSample:
    sample_id: int
    node_id: str
    installation_id: int
    timestamp_s: int
    co2_ppm: int
    temperature_celsius: float | None
    rel_humidity_percent: float | None


sample_published = Signal()

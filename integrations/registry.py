"""The integrations this process forwards to, registered by their apps."""

from collections.abc import Callable
from dataclasses import dataclass

from integrations.transport import Transport


@dataclass(frozen=True)
class Integration:
    name: str
    #: Builds the transport for one stream (called by the drain, once per run).
    transport: Callable[..., Transport]
    #: Most samples per request to the platform.
    batch_size: int = 500


_registered: dict[str, Integration] = {}


def register(integration: Integration) -> None:
    _registered[integration.name] = integration


def unregister(name: str) -> None:
    _registered.pop(name, None)


def get(name: str) -> Integration | None:
    return _registered.get(name)


def names() -> list[str]:
    return sorted(_registered)

from core.models.catalog import NodeModel, Protocol, Quantity
from core.models.fidelity import Fidelity, FidelityCheck, FidelityEvent, NodeFidelity
from core.models.inventory import Address, Installation, Node, Room, Site, derive_node_id
from core.models.samples import HourlySummary, Sample, SummaryHorizon

__all__ = [
    "Address",
    "Fidelity",
    "FidelityCheck",
    "FidelityEvent",
    "HourlySummary",
    "Installation",
    "Node",
    "NodeFidelity",
    "NodeModel",
    "Protocol",
    "Quantity",
    "Room",
    "Sample",
    "Site",
    "SummaryHorizon",
    "derive_node_id",
]

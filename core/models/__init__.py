from core.models.catalog import NodeModel, Protocol, Quantity
from core.models.fidelity import NodeFidelity
from core.models.inventory import Address, Installation, Node, Room, Site, derive_node_id
from core.models.samples import Sample

__all__ = [
    "Address",
    "Installation",
    "Node",
    "NodeFidelity",
    "NodeModel",
    "Protocol",
    "Quantity",
    "Room",
    "Sample",
    "Site",
    "derive_node_id",
]

"""The Django admin for the catalog, the inventory and the samples.

Staff manage thousands of nodes and hundreds of millions of samples here, so
every foreign key to a large table is an autocomplete box, every list selects
its related rows in the same query, and the sample list never reads the whole
table (see ``samples.py``).
"""

from core.admin import catalog, inventory, organizations, samples  # noqa: F401  (registers the admins)

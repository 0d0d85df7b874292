"""Sample intake for gateways (filled in by issue 3/8)."""

urlpatterns: list = []

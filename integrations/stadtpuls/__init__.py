"""Forwarding to Stadtpuls, Berlin's open IoT data platform (see
../shared/INTEGRATIONS.md): every public installation becomes a Stadtpuls
sensor, registered once, and its CO2 readings are sent as records."""

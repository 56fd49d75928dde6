"""CRM connectors for kam-sync, one module per CRM behind one protocol."""

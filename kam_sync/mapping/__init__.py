"""The mapping layer: raw CRM records -> canonical records, with coercion and value maps."""

"""The dead-letter table: record, store, parking queue and replay."""

"""Example worker processes, one module per app."""

"""executors layer (see DESIGN.md)."""

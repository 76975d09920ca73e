"""expressions layer (see DESIGN.md)."""

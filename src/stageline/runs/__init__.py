"""runs layer (see DESIGN.md)."""

"""Helpers shared by test packages: real local servers and real git repositories."""

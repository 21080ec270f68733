"""Data sources: each reads the OS one way and returns the shared model (lagwatch.model)."""

"""Presentation of rankings for people (tables) and programs (JSON Lines, CSV)."""

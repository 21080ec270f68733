"""Recorded history: the SQLite schema, the daemon's writer, retention and the read API."""

from __future__ import annotations

from lagwatch.events import Event
from lagwatch.store.db import default_db_path
from lagwatch.store.policy import RecordPolicy
from lagwatch.store.reader import History, RecordedRanking
from lagwatch.store.retention import Retention
from lagwatch.store.schema import SCHEMA_VERSION, StoreError
from lagwatch.store.writer import Recorder

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "History",
    "RecordPolicy",
    "RecordedRanking",
    "Recorder",
    "Retention",
    "StoreError",
    "default_db_path",
]

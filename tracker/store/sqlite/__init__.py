"""The SQLite backend: one store file (schema, migrations, connections, pool, writes, reads).

``read`` (``SqliteReader``) and ``write`` (``SqliteWriter``) load apart, on first use: a reading
process never loads the write half.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SqliteReader": "read", "SqliteWriter": "write", "SCHEMA_VERSION": "schema",
    "BLOCK_SIZES": "series_writes", "connect": "connection", "connect_readonly": "connection",
    "describe_error": "connection", "transaction": "connection", "upgrade": "connection",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tracker.store.sqlite' has no attribute {name!r}")

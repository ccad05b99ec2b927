"""The SQLite store: schema and migrations, connections, and the batched writer."""

from .connection import connect, connect_readonly, describe_error, transaction, upgrade
from .schema import SCHEMA_VERSION
from .series_writes import BLOCK_SIZES

__all__ = [
    "BLOCK_SIZES", "SCHEMA_VERSION", "connect", "connect_readonly", "describe_error", "transaction",
    "upgrade",
]

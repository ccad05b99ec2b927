"""The SQLite backend: one store file (schema, migrations, connections, pool, writes, reads)."""

from .connection import connect, connect_readonly, describe_error, transaction, upgrade
from .read import SqliteReader
from .schema import SCHEMA_VERSION
from .series_writes import BLOCK_SIZES
from .write import SqliteWriter

__all__ = [
    "BLOCK_SIZES", "SCHEMA_VERSION", "SqliteReader", "SqliteWriter", "connect", "connect_readonly",
    "describe_error", "transaction", "upgrade",
]

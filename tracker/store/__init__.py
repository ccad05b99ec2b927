"""The SQLite store: schema and migrations, connections, and the batched writer."""

from .connection import connect, describe_error, transaction
from .schema import BLOCK_SIZES, SCHEMA_VERSION

__all__ = ["BLOCK_SIZES", "SCHEMA_VERSION", "connect", "describe_error", "transaction"]

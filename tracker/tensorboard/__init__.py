"""TensorBoard bridge: event-file framing, export (store -> tfevents) and import (tfevents -> store)."""

"""The terminal app: browse, filter, compare and live-tail runs (``tracker`` / ``tracker ui``)."""

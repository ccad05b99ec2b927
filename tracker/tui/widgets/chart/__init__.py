"""The line chart widget: a braille chart of many series with zoom, pan, crosshair and smoothing.

The rest of the app uses only what this package exports; its modules (axes, data, frame,
raster, smooth, text) are the widget's internals, pure numpy and Rich, testable without an app.
"""

from .line_chart import PALETTE, SMOOTHING_STEPS, ChartSeries, LineChart

__all__ = ["PALETTE", "SMOOTHING_STEPS", "ChartSeries", "LineChart"]

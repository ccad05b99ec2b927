"""Provides the app's widgets: runs table, metric picker, config tree, histograms, graph, profile."""

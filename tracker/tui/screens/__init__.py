"""Provides the app's screens: runs, run detail, compare, and the small dialogs."""

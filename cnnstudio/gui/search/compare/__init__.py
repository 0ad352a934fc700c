"""Runs side by side (view.py): settings that differ, metrics, F1 per class, curves overlaid."""

"""Renderers: they format what metrics, compare and gate return, and compute nothing."""

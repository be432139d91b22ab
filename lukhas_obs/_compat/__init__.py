"""Compatibility seams with OpenTelemetry SDK internals, one small module per seam.

Each module here is the only place that touches a private SDK attribute for its purpose, so an SDK upgrade (or the
upstream API that replaces the seam) changes one file.
"""

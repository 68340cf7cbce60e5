"""Vendor sources. The core reaches them only through `registry`."""

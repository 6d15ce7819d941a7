"""Köprü's shared tenant/KVKK library.

Importing this package does no I/O and imports nothing heavy: every area loads
what it needs on first use, so a function's cold start is its own imports plus
its first request.
"""

__version__ = "0.1.0"

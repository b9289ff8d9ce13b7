"""Uploaded images, decoded under bounds whatever the file claims: a cap on pixels read
from the header (`limits`), each decode in a child process of its own with memory, CPU
and wall-time limits (`decode` runs there), and a bounded pool of those per app worker
(`pool`). Profile pictures use it; images in posts will use the same.

This package's `__init__` imports nothing: the child starts as `python -m images.decode`
and must not pay for the app's imports (or read its settings).
"""

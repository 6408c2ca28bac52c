"""Tidewire's shared kernel: contracts every service agrees on.

Event envelopes, topic names and partitioning, cursors, settings and auth tokens live here and
only here. The kernel imports no service; services import the kernel.
"""

"""Tidewire's composition root: the `tidewire` CLI, the local engine stack and the supervisor.

This package may start every service (as processes); no service imports it.
"""

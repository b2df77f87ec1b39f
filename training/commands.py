"""Subcommands of ``ebgan-edge`` that train, evaluate and export models.

``register`` only declares the commands; torch is imported when one runs.
"""

from __future__ import annotations


def register(commands) -> None:
    """Add the training subcommands to the ``ebgan-edge`` argument parser."""

"""Firebreak: a self-hosted trust-and-safety system for messaging platforms."""

__version__ = "0.1.0"

"""Shared pieces: initialisers, device meshes, atomic I/O, checkpoints, errors, malloc settings."""

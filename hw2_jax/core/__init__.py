"""Shared pieces: initialisers, device meshes, atomic I/O, checkpoints, CLI errors."""

"""Runnable recipes: each module's docstring says the command and the result it reproduces."""

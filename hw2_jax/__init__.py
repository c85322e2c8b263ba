"""hw2-jax: the CNN padding study, the rotation study and a micro-GPT in JAX/Flax."""

__version__ = "0.1.0"

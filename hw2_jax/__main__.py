from hw2_jax.core import startup

if __name__ == "__main__":
  startup.reexec("hw2_jax")
  from hw2_jax.cli import main

  main()

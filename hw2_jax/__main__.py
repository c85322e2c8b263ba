from hw2_jax.core.host_memory import reexec_with_tuned_malloc

if __name__ == "__main__":
  reexec_with_tuned_malloc("hw2_jax")
  from hw2_jax.core import compile_cache
  from hw2_jax.cli import main
  compile_cache.enable()
  main()

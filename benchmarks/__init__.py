"""Speed benchmarks (never tests): `make bench` runs them and writes runs/bench/."""

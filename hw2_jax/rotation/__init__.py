"""Part 1.2: how a CIFAR-10 CNN's accuracy depends on rotation, with and without
rotation augmentation (`python -m hw2_jax rotation-study`)."""

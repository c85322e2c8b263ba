"""Rotation study on CIFAR-10 (assignment part 1.2): accuracy vs test rotation angle for the
notebook's CNN trained on upright images ("plain") and with RandomRotation(360) ("augmented").

Command (the Makefile alias of `python -m hw2_jax rotation-study`):

  mkdir -p /tmp/cifar && tar -xzf ../shared/data/cifar10-jpg.tar.gz -C /tmp/cifar
  make rotation-study ARGS="--data-dir /tmp/cifar/cifar10-jpg"

or `.venv/bin/python experiments/rotation_cifar10.py /tmp/cifar/cifar10-jpg`, which runs
CONFIG below (the same settings). Outputs: results/rotation-study/rotation_study.{json,md,png},
samples_{plain,augmented}.png; checkpoints in results/rotation-study/checkpoints/ (not
committed).

Measured on 2026-11-26 by `make rotation-study ARGS="--data-dir /tmp/cifar/cifar10-jpg"`
(the JPEG CIFAR-10 of ../shared/data, 50,000 train / 10,000 test images; 10 epochs, both
models, 1 seed), on the shared 2-core CPU sandbox (jax 0.10.2, CPU backend) while other jobs
ran (load average 5 to 12): wall time 2,397 s (40 min) for the whole command; training 1,363 s
(plain) and 845 s (augmented), evaluation at 13 angles about 80 s per model.

  test accuracy (%)   0 deg   90 deg   180 deg   (30..330 deg: see rotation_study.md)
  plain               70.37    24.09     27.26
  augmented           51.06    51.17     50.66

The plain model falls from 70% upright to 16-34% at other angles (with local peaks at 90,
180 and 270 degrees, which keep the pixel grid); the augmented model is flat at 50-51%
at every angle, about 19 points below the plain model on upright images.
"""

import dataclasses
import sys

from hw2_jax.rotation.config import Config

# The notebook's protocol: 10 epochs, batch 64, Adam 1e-3, one seed, 13 test angles.
CONFIG = Config(data="folder", epochs=10, batch_size=64, learning_rate=1e-3, seeds=1,
                out="results/rotation-study")


def main(argv) -> None:
  from hw2_jax.rotation import study  # pylint: disable=import-outside-toplevel
  if len(argv) != 1:
    sys.exit("usage: python experiments/rotation_cifar10.py DATA_DIR  (the cifar10-jpg folder)")
  study.train_and_evaluate(dataclasses.replace(CONFIG, data_dir=argv[0]))


if __name__ == "__main__":
  main(sys.argv[1:])

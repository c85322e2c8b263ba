"""Rotation study on CIFAR-10 (part 1.2): accuracy vs test rotation angle of the notebook's CNN
trained on upright images ("plain") and with RandomRotation(360) ("augmented").

    python -m experiments.rotation_cifar10 [--data-dir DIR] [--out OUT]   # = make rotation-study

The notebook's protocol: 10 epochs, batch 64, Adam 1e-3, one seed, the test set rotated by
0, 30, ..., 360 degrees. Data: canonical CIFAR-10 through tensorflow-datasets, or
`--data-dir DIR` with DIR/{train,test}/<class>/*.png|jpg. Writes OUT/rotation_study.{json,md,png}
and sample grids (default runs/rotation-study), checkpoints in OUT/checkpoints.

The committed results/rotation-study/ holds the outputs (not the checkpoints) of
`--data-dir /tmp/cifar/cifar10-jpg --out runs/rotation-study` (the JPEG copy of CIFAR-10 in
this project's shared data, unpacked) on the 2-core CPU: the plain model falls from about 70%
upright to 18-37% at other angles, with peaks at 90/180/270 degrees; the augmented model is
flat at 48-51% at every angle (table: results/rotation-study/rotation_study.md).
"""

from experiments import run

ARGS = [
  "rotation-study",
  "--epochs",
  "10",
  "--batch-size",
  "64",
  "--learning-rate",
  "1e-3",
  "--seeds",
  "1",
]

if __name__ == "__main__":
  run(__spec__.name, ARGS)

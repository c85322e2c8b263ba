"""Rotation study over 5 seeds with four models (parts 1.2 and the C4 question): the notebook's
CNN trained on upright images ("plain") and with RandomRotation(360) ("augmented"), and the
C4-equivariant CNN (hw2_jax/rotation/model.py) trained the same two ways ("c4",
"c4-augmented"); every model 5 times (seeds 0-4, trained together), tested at 0, 30, ..., 360
degrees.

    python -m experiments.rotation_seeds --data-dir /tmp/cifar/cifar10-jpg \\
        --out results/rotation-study-seeds

The notebook's protocol otherwise (10 epochs, batch 64, Adam 1e-3). The committed
results/rotation-study-seeds/ holds its outputs (not the checkpoints); `make report` reads it
for the homework's Figures 1 and 2 with 95% intervals. A rerun into the same --out with the same
settings trains only the models it lacks, and continues an interrupted one from its last
saved epoch.
"""

from experiments import run

ARGS = ["rotation-study", "--seeds", "5", "--models", "plain", "augmented", "c4", "c4-augmented"]

if __name__ == "__main__":
  run(__spec__.name, ARGS)

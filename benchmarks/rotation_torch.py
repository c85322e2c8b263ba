"""The rotation study's PyTorch comparator: the notebook's CIFAR-10 CNN trained in PyTorch,
plain and with random rotations, then tested on the test set rotated by each angle, for
benchmarks.rotation_command (a whole command against `hw2_jax rotation-study`).

  python -m benchmarks.rotation_torch --data-dir DIR [--epochs 1]

The same work as the study's default models: Adam 1e-3, batches of 64 reshuffled every epoch,
the augmented model's images each turned by a uniform angle in [-360, 360] degrees, and the
test set (batches of 1,000) at 0, 30, ..., 360 degrees. Rotations are nearest-neighbour about
the centre with torchvision's semantics: hw2_jax/rotation/rotate.py's source pixels computed
with PyTorch's ops (torchvision is not a dependency). The data are the project's
(hw2_jax/rotation/data.load). A restatement written for timing; its accuracies are PyTorch's.
"""

import math
import time

from benchmarks import output
from hw2_jax.rotation import config, data
from hw2_jax.rotation import rotate as rotate_lib


def cnn(torch):
  nn = torch.nn
  block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
  return nn.Sequential(
    *block(3, 32), *block(32, 64), *block(64, 64), nn.Flatten(),
    nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10),
  )  # fmt: skip


def rotate(torch, images_BxCxHxW, angles_B):
  """Each image turned counter-clockwise by its angle in degrees (nearest, fill 0): the
  study's source pixels (rotate.source_pixels, in torch), gathered by PyTorch."""
  b, c, h, w = images_BxCxHxW.shape
  quarters = torch.round(angles_B / 90)
  exact, k = quarters * 90 == angles_B, quarters.remainder(4).long()  # exact quarter turns
  theta = angles_B * (math.pi / 180)
  cos = torch.where(exact, torch.tensor([1.0, 0.0, -1.0, 0.0])[k], torch.cos(theta))
  sin = torch.where(exact, torch.tensor([0.0, 1.0, 0.0, -1.0])[k], torch.sin(theta))
  flat, inside = rotate_lib.source_pixels(cos, sin, h, w, xp=torch)
  index = flat.long().reshape(b, 1, h * w).expand(b, c, h * w)
  out = torch.gather(images_BxCxHxW.reshape(b, c, h * w), 2, index)
  return out.reshape(b, c, h, w) * inside[:, None]


def train(torch, images, labels, epochs: int, augment: bool, batch_size: int = 64):
  model = cnn(torch)
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  n = len(images)
  for _ in range(epochs):
    for idx in torch.randperm(n).split(batch_size):
      x = images[idx].float() / 255
      if augment:
        x = rotate(torch, x, torch.empty(len(idx)).uniform_(-360.0, 360.0))
      opt.zero_grad()
      torch.nn.functional.cross_entropy(model(x), labels[idx]).backward()
      opt.step()
  return model


def accuracy(torch, model, images, labels, angle: float, batch_size: int = 1000) -> float:
  correct = 0
  with torch.no_grad():
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
      x = rotate(torch, x.float() / 255, torch.full((len(x),), angle))
      correct += (model(x).argmax(1) == y).sum().item()
  return 100.0 * correct / len(images)


def main(argv=None) -> dict:
  p = output.parser("benchmarks.rotation_torch", __doc__)
  p.add_argument("--data-dir", required=True, help="CIFAR-10 class folders, as rotation-study's")
  p.add_argument("--epochs", type=int, default=1)
  args = p.parse_args(argv)
  torch = output.require_torch(p)
  t0 = time.perf_counter()
  torch.manual_seed(0)
  splits = data.load(args.data_dir)
  (x, y), (xt, yt) = (output.torch_split(torch, splits[k]) for k in ("train", "test"))
  result = {}
  for name in config.DEFAULT_MODELS:
    model = train(torch, x, y, args.epochs, augment=name == "augmented").eval()
    result[name] = [accuracy(torch, model, xt, yt, a) for a in config.DEFAULT_ANGLES]
    print(f"PyTorch {name}: {result[name][0]:.2f}% upright, {time.perf_counter() - t0:.0f} s")
  return result


if __name__ == "__main__":
  main()

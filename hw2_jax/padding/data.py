"""The red/green boxes dataset of the padding study, bit for bit as the original generator.

32x32 RGB images on black with a red (channel 0) and a green (channel 1) 4x4 box. Class 0 has
red left of green near the top, class 1 green left of red near the bottom. The test set moves
every box 16 px vertically (class 0 down, class 1 up), so absolute position no longer tells the
class, only the relative order of the two boxes does.

The original generator reseeds numpy's legacy global RNG with 42 on every call, so its
validation set is the first images of its training set and its test set holds those same
boxes, shifted. `np.random.RandomState(42)` yields the same stream without touching global state.
The `clean` protocol draws the validation set, an unshifted "similar" test set and the shifted
test set each from a random stream of its own (`stream_seed`), none of them the training one's.
"""

import zlib

import numpy as np

IMG_SIZE = 32
BOX_SIZE = 4
SEED = 42
SHIFT = 16
Y_OFFSETS = (7, 23)  # class 0 (near the top), class 1 (near the bottom)
PROTOCOLS = ("original", "clean")


def stream_seed(name: str) -> int:
  """The numpy seed of the clean protocol's split `name` (CRC-32 of its name, as core/rng)."""
  return zlib.crc32(f"padding/{name}".encode())


def generate(num_samples: int, shift: int = 0, seed: int = SEED):
  """Returns (x_NxHxWxC float32 in [0, 1], y_N int32); `shift` moves class 0 down, class 1 up."""
  rng = np.random.RandomState(seed)
  off = IMG_SIZE - BOX_SIZE
  x_NHWC = np.zeros((num_samples, IMG_SIZE, IMG_SIZE, 3), np.float32)
  y_N = np.arange(num_samples, dtype=np.int32) % 2
  for i in range(num_samples):
    label = y_N[i]
    x1 = rng.randint(off / 2 - 4)
    y1 = rng.randint(-off / 6, off / 6)
    x2 = rng.randint(x1, off)
    y2 = rng.randint(-off / 6, off / 6)
    while abs(x1 - x2) < 5:
      x2 = rng.randint(x1, off)
      y2 = rng.randint(-off / 6, off / 6)
    base = Y_OFFSETS[label] + (shift if label == 0 else -shift)
    left, right = (0, 1) if label == 0 else (1, 0)  # channel of the left and right box
    x_NHWC[i, base + y1 : base + y1 + BOX_SIZE, x1 : x1 + BOX_SIZE, left] = 1.0
    x_NHWC[i, base + y2 : base + y2 + BOX_SIZE, x2 : x2 + BOX_SIZE, right] = 1.0
  return x_NHWC, y_N


def make_splits(
  num_train: int = 2000, num_val: int = 1000, num_test: int = 1000, protocol: str = "original"
) -> dict:
  """{"train": (x, y), "val": (x, y), "test": (x, y)}, and "similar" under `clean`.

  `original`: as the original script builds them (validation = the first training images,
  test = the training boxes shifted). `clean`: training as the original; validation, the
  unshifted "similar" test set (`num_test` images) and the shifted test set each from its own
  stream.
  """
  if protocol == "original":
    return {
      "train": generate(num_train),
      "val": generate(num_val),
      "test": generate(num_test, shift=SHIFT),
    }
  if protocol != "clean":
    raise ValueError(f"unknown protocol {protocol!r}")
  return {
    "train": generate(num_train),
    "val": generate(num_val, seed=stream_seed("val")),
    "similar": generate(num_test, seed=stream_seed("similar")),
    "test": generate(num_test, shift=SHIFT, seed=stream_seed("test")),
  }


def repeats(x_NHWC, of_MHWC) -> int:
  """How many images of `x_NHWC` are bit for bit an image of `of_MHWC` (boxes repeated)."""
  seen = {im.tobytes() for im in np.ascontiguousarray(of_MHWC)}
  return sum(im.tobytes() in seen for im in np.ascontiguousarray(x_NHWC))

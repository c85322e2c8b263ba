"""Batched rotation about the image centre with torchvision's semantics.

Matches `torchvision.transforms.functional.rotate(img, angle)` with its defaults
(NEAREST, expand=False, centre None, fill 0): positive angles turn the image
counter-clockwise; output pixel (x, y), taken relative to the centre
((W - 1) / 2, (H - 1) / 2), samples the input at R(angle) (x, y) with y pointing down,
rounded half-to-even like `grid_sample(mode="nearest")`; samples outside are 0. Multiples of
90 degrees are exact pixel permutations (`np.rot90`), by construction (`cos_sin`).
"""

import jax
import jax.numpy as jnp


def cos_sin(angles_B: jax.Array) -> tuple[jax.Array, jax.Array]:
  """cos and sin of angles in degrees (float32), exactly 0 or +-1 at multiples of 90 degrees.

  In float32, cos(deg2rad(90)) is -4.4e-8 and sin(deg2rad(180)) -8.7e-8, not 0: source
  coordinates come out off their integer or half-integer values by ~1e-7 x the image size, and
  rounding still finds the right pixel (so rotate was already np.rot90 there), but by a margin,
  not by construction. Snapped, they are exact. Other angles keep the float32 cos and sin, so
  augmentation draws the same images as before.
  """
  angles_B = jnp.asarray(angles_B, jnp.float32)
  theta_B = jnp.deg2rad(angles_B)
  quarters_B = jnp.round(angles_B / 90)  # exact for multiples of 90 below 2^24 degrees
  exact_B = quarters_B * 90 == angles_B
  k_B = jnp.mod(quarters_B, 4).astype(jnp.int32)
  cos_B = jnp.where(exact_B, jnp.array([1.0, 0.0, -1.0, 0.0])[k_B], jnp.cos(theta_B))
  sin_B = jnp.where(exact_B, jnp.array([0.0, 1.0, 0.0, -1.0])[k_B], jnp.sin(theta_B))
  return cos_B, sin_B


def source_pixels(cos_B, sin_B, h: int, w: int, xp=jnp):
  """For each output pixel of an h x w image turned by the angle of (cos, sin): the flat index
  (y * w + x) of the input pixel it takes, and whether that pixel lies inside the image, as
  B x H x W arrays of `xp` (jax.numpy here; the PyTorch comparator of benchmarks/ passes torch,
  whose functions of these names agree)."""
  cos_Bx1x1, sin_Bx1x1 = cos_B[:, None, None], sin_B[:, None, None]
  y_HxW, x_HxW = xp.meshgrid(
    xp.arange(h, dtype=xp.float32) - (h - 1) / 2,
    xp.arange(w, dtype=xp.float32) - (w - 1) / 2,
    indexing="ij",
  )
  src_x_BxHxW = xp.round(cos_Bx1x1 * x_HxW - sin_Bx1x1 * y_HxW + (w - 1) / 2)
  src_y_BxHxW = xp.round(sin_Bx1x1 * x_HxW + cos_Bx1x1 * y_HxW + (h - 1) / 2)
  inside_BxHxW = (
    (src_x_BxHxW >= 0) & (src_x_BxHxW <= w - 1) & (src_y_BxHxW >= 0) & (src_y_BxHxW <= h - 1)
  )
  flat_BxHxW = xp.clip(src_y_BxHxW, 0, h - 1) * w + xp.clip(src_x_BxHxW, 0, w - 1)
  return flat_BxHxW, inside_BxHxW


def rotate(images_BxHxWxC: jax.Array, angles_B: jax.Array) -> jax.Array:
  """Rotates each image by its own angle in degrees (any dtype; values are kept)."""
  b, h, w, c = images_BxHxWxC.shape
  flat_BxHxW, inside_BxHxW = source_pixels(*cos_sin(angles_B), h, w)
  flat_BxHW = flat_BxHxW.astype(jnp.int32).reshape(b, h * w, 1)
  pixels_BxHWxC = jnp.take_along_axis(images_BxHxWxC.reshape(b, h * w, c), flat_BxHW, axis=1)
  out_BxHxWxC = pixels_BxHWxC.reshape(b, h, w, c)
  return jnp.where(inside_BxHxW[..., None], out_BxHxWxC, jnp.zeros((), out_BxHxWxC.dtype))


def random_angles(key: jax.Array, n: int, max_angle: float = 360.0) -> jax.Array:
  """torchvision's RandomRotation(max_angle): uniform in [-max_angle, max_angle]."""
  return jax.random.uniform(key, (n,), jnp.float32, -max_angle, max_angle)

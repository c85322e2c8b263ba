"""Batched rotation about the image centre with torchvision's semantics.

Matches `torchvision.transforms.functional.rotate(img, angle)` with its defaults
(NEAREST, expand=False, centre None, fill 0): positive angles turn the image
counter-clockwise; output pixel (x, y), taken relative to the centre
((W - 1) / 2, (H - 1) / 2), samples the input at R(angle) (x, y) with y pointing down,
rounded half-to-even like `grid_sample(mode="nearest")`; samples outside are 0.
"""

import jax
import jax.numpy as jnp


def rotate(images_BxHxWxC: jax.Array, angles_B: jax.Array) -> jax.Array:
  """Rotates each image by its own angle in degrees (any dtype; values are kept)."""
  b, h, w, c = images_BxHxWxC.shape
  theta_B = jnp.deg2rad(jnp.asarray(angles_B, jnp.float32))
  cos_Bx1x1, sin_Bx1x1 = jnp.cos(theta_B)[:, None, None], jnp.sin(theta_B)[:, None, None]
  y_HxW, x_HxW = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2,
    jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2,
    indexing="ij",
  )
  src_x_BxHxW = jnp.round(cos_Bx1x1 * x_HxW - sin_Bx1x1 * y_HxW + (w - 1) / 2)
  src_y_BxHxW = jnp.round(sin_Bx1x1 * x_HxW + cos_Bx1x1 * y_HxW + (h - 1) / 2)
  inside_BxHxW = (
    (src_x_BxHxW >= 0) & (src_x_BxHxW <= w - 1) & (src_y_BxHxW >= 0) & (src_y_BxHxW <= h - 1)
  )
  flat_BxHW = (
    jnp.clip(src_y_BxHxW, 0, h - 1).astype(jnp.int32) * w
    + jnp.clip(src_x_BxHxW, 0, w - 1).astype(jnp.int32)
  ).reshape(b, h * w, 1)
  pixels_BxHWxC = jnp.take_along_axis(images_BxHxWxC.reshape(b, h * w, c), flat_BxHW, axis=1)
  out_BxHxWxC = pixels_BxHWxC.reshape(b, h, w, c)
  return jnp.where(inside_BxHxW[..., None], out_BxHxWxC, jnp.zeros((), out_BxHxWxC.dtype))


def random_angles(key: jax.Array, n: int, max_angle: float = 360.0) -> jax.Array:
  """torchvision's RandomRotation(max_angle): uniform in [-max_angle, max_angle]."""
  return jax.random.uniform(key, (n,), jnp.float32, -max_angle, max_angle)

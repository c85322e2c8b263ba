"""rotate() against np.rot90 (exact at multiples of 90 degrees), against itself before that was
by construction, and against an independent NumPy port of torchvision's tensor path."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hw2_jax.rotation import train
from hw2_jax.rotation.rotate import cos_sin, random_angles, rotate


def torchvision_rotate_reference(img_HxWxC: np.ndarray, angle: float):
  """torchvision.transforms.functional.rotate(img, angle) (NEAREST, expand=False, centre None,
  fill 0) step by step: _get_inverse_affine_matrix(centre 0, -angle), _gen_affine_grid,
  grid_sample(nearest, zeros, align_corners=False). Also returns the pixels whose source is
  a rounding tie (x.5), where float error decides either way."""
  h, w, _ = img_HxWxC.shape
  rot = math.radians(-angle)
  a, b, c, d = math.cos(rot), -math.sin(rot), math.sin(rot), math.cos(rot)
  theta = np.array([[d, -b, 0.0], [-c, a, 0.0]], np.float32)
  xs = np.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w, dtype=np.float32)
  ys = np.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h, dtype=np.float32)
  base_HxWx3 = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.float32(1)), -1)
  grid_HxWx2 = base_HxWx3 @ (theta.T / np.array([0.5 * w, 0.5 * h], np.float32))
  fx = ((grid_HxWx2[..., 0] + 1) * w - 1) / 2
  fy = ((grid_HxWx2[..., 1] + 1) * h - 1) / 2
  tie = (np.abs(fx - np.floor(fx) - 0.5) < 1e-3) | (np.abs(fy - np.floor(fy) - 0.5) < 1e-3)
  ix, iy = np.rint(fx).astype(int), np.rint(fy).astype(int)
  inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
  out = img_HxWxC[np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]
  return np.where(inside[..., None], out, 0).astype(img_HxWxC.dtype), tie


def _images(b, h, w, c=3, seed=0):
  return np.random.default_rng(seed).integers(1, 256, (b, h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("size", [32, 7])
def test_0_and_360_are_identity(size):
  x = _images(2, size, size)
  out = rotate(jnp.asarray(x), jnp.array([0.0, 360.0]))
  chex.assert_trees_all_equal(np.asarray(out), x)
  chex.assert_trees_all_equal(np.asarray(rotate(jnp.asarray(x), jnp.array([-360.0, 720.0]))), x)


@pytest.mark.parametrize("size", [32, 9, 5])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_multiples_of_90_equal_rot90(size, k):
  x = _images(3, size, size)
  out = rotate(jnp.asarray(x), jnp.full((3,), 90.0 * k))
  chex.assert_trees_all_equal(np.asarray(out), np.rot90(x, k, axes=(1, 2)))
  for turns in (k - 4, k + 4, k - 8):  # the same turn, another way round
    other = rotate(jnp.asarray(x), jnp.full((3,), 90.0 * turns))
    chex.assert_trees_all_equal(np.asarray(other), np.asarray(out))


def test_multiples_of_90_are_exact_by_construction():
  # float32 cos(90 degrees) is -4.4e-8: right pixels after rounding, but only by margin
  angles = np.array([0, 90, 180, 270, 360, -90, -180, -270, 450, -630, 1080], np.float32)
  cos, sin = cos_sin(jnp.asarray(angles))
  k = np.round(angles / 90).astype(int) % 4
  chex.assert_trees_all_equal(np.asarray(cos), np.array([1, 0, -1, 0], np.float32)[k])
  chex.assert_trees_all_equal(np.asarray(sin), np.array([0, 1, 0, -1], np.float32)[k])


def _rotate_before_c4(images_BxHxWxC, angles_B):
  """rotate() as committed before the C4 model (plain float32 cos and sin at every angle)."""
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


def test_same_images_as_before_the_snap():
  """Augmentation (random angles) and the committed results' test angles are unchanged."""
  x = _images(512, 32, 32, seed=3)
  angles = np.asarray(random_angles(jax.random.key(4), 512))
  assert not np.any(angles % 90 == 0)
  for a in (angles, np.array([0, 90, 180, 270, 360, -90] * 4 + [45.0] * 488, np.float32)):
    new, old = jax.jit(rotate)(x, a), jax.jit(_rotate_before_c4)(x, a)
    chex.assert_trees_all_equal(np.asarray(new), np.asarray(old))
    chex.assert_trees_all_equal(np.asarray(rotate(x[:8], a[:8])), np.asarray(old[:8]))


def test_positive_angle_turns_counter_clockwise():
  x = np.zeros((1, 5, 5, 1), np.uint8)
  x[0, 2, 4, 0] = 7  # middle of the right edge
  out = np.asarray(rotate(jnp.asarray(x), jnp.array([90.0])))
  assert out[0, 0, 2, 0] == 7 and out.sum() == 7  # now in the middle of the top edge


def test_matches_torchvision_reference_at_many_angles():
  angles = np.array(
    [0, 30, 45, 60, 90, 120, 150, 180, 210, 270, 330, 360, -17.5, 123.4], np.float32
  )
  for h, w in ((32, 32), (6, 9)):
    x = _images(len(angles), h, w, seed=h)
    out = np.asarray(rotate(jnp.asarray(x), jnp.asarray(angles)))
    for i, angle in enumerate(angles):
      ref, tie = torchvision_rotate_reference(x[i], float(angle))
      chex.assert_trees_all_equal(out[i][~tie], ref[~tie])
      if h == w:  # square, as the data: ties are rare, so the equality above checks real pixels
        assert tie.mean() < 0.1, angle


def test_nearest_keeps_values_and_fills_corners_with_zero():
  x = _images(4, 32, 32)
  out = np.asarray(rotate(jnp.asarray(x), jnp.array([45.0, 30.0, -60.0, 200.0])))
  chex.assert_shape(out, x.shape)
  chex.assert_type(out, jnp.uint8)
  for i in range(4):
    allowed = set(np.unique(x[i]).tolist()) | {0}
    assert set(np.unique(out[i]).tolist()) <= allowed
  for r, c in ((0, 0), (0, 31), (31, 0), (31, 31)):
    assert np.all(out[0, r, c] == 0)  # 45 degrees: the corners come from outside
  assert np.all(out[0, 16, 16] != 0)


def test_float_images_and_jit():
  x = np.random.default_rng(1).random((2, 8, 8, 3)).astype(np.float32)
  out = jax.jit(rotate)(jnp.asarray(x), jnp.array([180.0, 0.0]))
  chex.assert_trees_all_close(np.asarray(out[0]), x[0, ::-1, ::-1])
  chex.assert_trees_all_close(np.asarray(out[1]), x[1])


def test_augmentation_angles_differ_per_image_per_step_and_per_epoch():
  seeds, batch = 2, 64
  _, aug0 = train.epoch_keys(0, 0)
  _, aug1 = train.epoch_keys(0, 1)
  draws = lambda aug, t: np.stack(
    [np.asarray(random_angles(k, batch)) for k in train.step_keys(aug, t, seeds)]
  )
  a00, a01, a10 = draws(aug0, 0), draws(aug0, 1), draws(aug1, 0)
  chex.assert_shape(a00, (seeds, batch))
  assert len(np.unique(a00)) == seeds * batch  # every image, every seed: its own angle
  assert not np.allclose(a00, a01) and not np.allclose(a00, a10)
  assert np.all(np.abs(np.concatenate([a00, a01, a10])) <= 360.0)
  many = np.asarray(random_angles(jax.random.key(0), 20000))
  assert abs(many.mean()) < 10 and abs(many.std() - 720 / np.sqrt(12)) < 5  # uniform[-360, 360]
  assert 359 < np.abs(many).max() <= 360

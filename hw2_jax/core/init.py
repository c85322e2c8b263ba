"""PyTorch's default initialisation for conv and linear layers, as Flax initialisers.

torch.nn.Conv2d/Linear draw weights with kaiming_uniform(a=sqrt(5)), i.e. uniform in
+-1/sqrt(fan_in), and biases uniform in +-1/sqrt(fan_in).
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from hw2_jax.core import precision as precision_lib

# variance_scaling(1/3, fan_in, uniform) has bound sqrt(3 * (1/3) / fan_in) = 1/sqrt(fan_in);
# Flax computes fan_in of an HWIO kernel as H * W * I, as PyTorch does.
torch_weight_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
  bound = 1.0 / jnp.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


class TorchDense(nn.Module):
  """nn.Dense with PyTorch's default initialisation, its GEMM at `precision` (fp32 or bf16)."""

  features: int
  use_bias: bool = True
  precision: str = "fp32"

  @nn.compact
  def __call__(self, x):
    return nn.Dense(
      self.features,
      use_bias=self.use_bias,
      kernel_init=torch_weight_init,
      bias_init=torch_bias_init(x.shape[-1]),
      dot_general=precision_lib.dot_general(self.precision),
    )(x)

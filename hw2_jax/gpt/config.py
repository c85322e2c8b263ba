"""Typed configs: model sizes by name and the settings of one training run."""

import dataclasses
from dataclasses import dataclass

from hw2_jax.core.errors import ConfigError, check_choice, check_positive

# name -> (n_layer, n_head, n_embd), as in the assignment.
MODEL_TYPES = {
    "gpt-nano": (3, 3, 48),
    "gpt-micro": (4, 4, 128),
    "gpt-mini": (6, 6, 384),
    "gopher-44m": (8, 16, 512),
    "gpt2": (12, 12, 768),
}
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class ModelConfig:
  vocab_size: int
  n_layer: int = 6
  n_head: int = 6
  n_embd: int = 384
  block_size: int = 128
  dropout: float = 0.1
  abs_emb: bool = False          # learned absolute positions instead of RoPE
  fused_attention: bool = False  # jax.nn.dot_product_attention instead of explicit softmax
  dtype: str = "float32"         # compute dtype; parameters are always float32
  rope_base: float = 10000.0

  @property
  def head_dim(self) -> int:
    return self.n_embd // self.n_head


@dataclass(frozen=True)
class TrainConfig:
  out: str
  txt_file: str | None = None
  cache_dir: str | None = None
  model_type: str = "gpt-mini"
  n_layer: int | None = None     # override the model type's sizes
  n_head: int | None = None
  n_embd: int | None = None
  block_size: int = 128
  dropout: float = 0.1
  abs_emb: bool = False
  fused_attention: bool | None = None  # None: fused on GPU/TPU, explicit on CPU
  precision: str = "auto"              # auto: bf16 on GPU/TPU, fp32 on CPU
  train_batch_size: int = 128
  learning_rate: float = 5e-4
  weight_decay: float = 0.1
  beta1: float = 0.9
  beta2: float = 0.95
  clip_grad_norm: float = 1.0
  num_epochs: int = 5
  max_steps: int | None = None
  seed: int = 0
  log_every: int = 10
  checkpoint_every: int = 500
  keep_checkpoints: int = 2
  generate_every: int = 500
  sample_prompt: str = "Yesterday I went "
  sample_tokens: int = 200
  num_samples: int = 2
  resume: bool = False
  progress: bool = True

  def sizes(self) -> tuple[int, int, int]:
    n_layer, n_head, n_embd = MODEL_TYPES[self.model_type]
    return (self.n_layer or n_layer, self.n_head or n_head, self.n_embd or n_embd)

  def validate(self) -> None:
    """Checks every value before any download or training starts."""
    check_choice("--model-type", self.model_type, tuple(MODEL_TYPES))
    check_choice("--precision", self.precision, PRECISIONS)
    for name in ("n_layer", "n_head", "n_embd"):
      if getattr(self, name) is not None:
        check_positive("--" + name.replace("_", "-"), getattr(self, name))
    n_layer, n_head, n_embd = self.sizes()
    if n_embd % n_head:
      raise ConfigError(f"n_embd {n_embd} is not divisible by n_head {n_head}; "
                        "pick sizes with n_embd a multiple of n_head.")
    if not self.abs_emb and (n_embd // n_head) % 2:
      raise ConfigError(f"RoPE needs an even head dimension, got {n_embd // n_head}; "
                        "change --n-embd/--n-head or pass --abs-emb.")
    for name in ("block_size", "train_batch_size", "num_epochs", "log_every",
                 "checkpoint_every", "keep_checkpoints", "sample_tokens", "num_samples"):
      check_positive("--" + name.replace("_", "-"), getattr(self, name))
    if self.max_steps is not None:
      check_positive("--max-steps", self.max_steps)
    check_positive("--generate-every", self.generate_every, minimum=0)
    if not 0.0 <= self.dropout < 1.0:
      raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}.")
    if not self.learning_rate > 0:
      raise ConfigError(f"--learning-rate must be > 0, got {self.learning_rate}.")
    if self.weight_decay < 0:
      raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}.")
    if not self.clip_grad_norm > 0:
      raise ConfigError(f"--clip-grad-norm must be > 0, got {self.clip_grad_norm}.")
    for name, b in (("--beta1", self.beta1), ("--beta2", self.beta2)):
      if not 0.0 <= b < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {b}.")
    if self.generate_every and not self.sample_prompt:
      raise ConfigError("--sample-prompt is empty; give a prompt or pass --generate-every 0.")

  def model_config(self, vocab_size: int, backend: str) -> ModelConfig:
    n_layer, n_head, n_embd = self.sizes()
    accelerator = backend in ("gpu", "tpu", "cuda", "rocm")
    precision = self.precision if self.precision != "auto" else (
        "bf16" if accelerator else "fp32")
    fused = self.fused_attention if self.fused_attention is not None else accelerator
    return ModelConfig(
        vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
        block_size=self.block_size, dropout=self.dropout, abs_emb=self.abs_emb,
        fused_attention=fused, dtype="bfloat16" if precision == "bf16" else "float32")


def to_dict(cfg) -> dict:
  return dataclasses.asdict(cfg)

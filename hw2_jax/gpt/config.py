"""Typed configs: model sizes by name (`ModelConfig`) and the settings of one run (`Config`).

Every `Config` field with help text is also a `gpt-train` flag (core/flags.py); `validate()`
refuses bad values with one line before any download or training; `DECIDING` lists the
settings a resumed run must keep (they decide its numbers).
"""

import dataclasses
from dataclasses import dataclass

from hw2_jax.core.errors import ConfigError, check_choice, check_finite, check_positive
from hw2_jax.core.flags import option

# name -> (n_layer, n_head, n_embd), as in the assignment.
MODEL_TYPES = {
  "gpt-nano": (3, 3, 48),
  "gpt-micro": (4, 4, 128),
  "gpt-mini": (6, 6, 384),
  "gopher-44m": (8, 16, 512),
  "gpt2": (12, 12, 768),
}
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = ("constant", "cosine")
NORMS = ("rmsnorm", "layernorm")
DEFAULT_PROMPT = "Yesterday I went "


@dataclass(frozen=True)
class ModelConfig:
  vocab_size: int
  n_layer: int = 6
  n_head: int = 6
  n_embd: int = 384
  block_size: int = 128
  dropout: float = 0.1
  abs_emb: bool = False  # learned absolute positions instead of RoPE
  norm: str = "rmsnorm"  # or "layernorm" (with a bias, as GPT-2)
  fused_attention: bool = False  # jax.nn.dot_product_attention instead of explicit softmax
  dtype: str = "float32"  # matmul operand dtype; parameters, residual stream, norms,
  # softmax and loss are float32 either way
  rope_base: float = 10000.0

  @property
  def head_dim(self) -> int:
    return self.n_embd // self.n_head


@dataclass(frozen=True)
class Config:
  """One gpt-train run."""

  txt_file: str | None = option(
    None,
    "UTF-8 training text; default: the assignment's Grimms' Fairy Tales, downloaded "
    "once into --cache-dir and checked against its sha256",
  )
  cache_dir: str | None = option(None, "download cache (default ~/.cache/hw2_jax)")
  model_type: str = option("gpt-mini", ", ".join(MODEL_TYPES))
  n_layer: int | None = option(None, "override the model type's layers")
  n_head: int | None = option(None, "override the model type's heads")
  n_embd: int | None = option(None, "override the model type's width")
  block_size: int = option(128, "context length")
  dropout: float = option(0.1, "on embeddings, attention probabilities and residuals")
  abs_emb: bool = option(False, "learned absolute position embedding instead of RoPE")
  norm: str = option("rmsnorm", "rmsnorm, or layernorm (GPT-2's and nanoGPT's)")
  fused_attention: bool | None = option(
    None,
    "jax.nn.dot_product_attention (default: on GPU/TPU, off on CPU; training with "
    "dropout > 0 uses the explicit path, which applies attention dropout)",
  )
  precision: str = option(
    "auto",
    f"{', '.join(PRECISIONS)}; bf16 = bfloat16 matmul operands, float32 parameters, "
    "residual stream, norms, softmax and loss (PyTorch's bf16-mixed); auto = bf16 on "
    "GPU/TPU, fp32 on CPU",
  )
  train_batch_size: int = option(128, "sequences per step (split over every device)")
  learning_rate: float = option(5e-4, "AdamW peak learning rate")
  lr_schedule: str = option(
    "constant",
    "constant, or cosine: linear warm-up, then cosine "
    "decay to --min-learning-rate at the last step",
  )
  warmup_steps: int = option(0, "linear warm-up steps (cosine schedule)")
  min_learning_rate: float = option(0.0, "where the cosine schedule ends")
  weight_decay: float = option(0.1, "AdamW weight decay, on linear weights only")
  beta1: float = option(0.9, "AdamW beta1")
  beta2: float = option(0.95, "AdamW beta2")
  clip_grad_norm: float = option(1.0, "global gradient-norm clipping")
  num_epochs: int = option(5, "one epoch = (training characters - block_size) // batch steps")
  max_steps: int | None = option(None, "stop after this many steps")
  seed: int = option(0, "initialisation, batches, dropout, samples")
  val_fraction: float = option(
    0.1,
    "the last fraction of the text is held out for validation (0: train on all of it, "
    "as the assignment does)",
  )
  eval_every: int = option(500, "validation loss every N steps (and at the end)")
  eval_iters: int = option(20, "validation batches per evaluation (the same ones every time)")
  out: str = option("runs/gpt", "run directory: logs, checkpoints, samples")
  resume: bool = option(False, "continue the run in --out")
  overwrite: bool = option(False, "replace the run in --out")
  log_every: int = option(
    10,
    "fetch metrics from the device every N steps, which run as one "
    "device call (every step is logged; Ctrl-C/SIGTERM takes effect "
    "after the call)",
  )
  checkpoint_every: int = option(500, "also at the end and on Ctrl-C/SIGTERM")
  keep_checkpoints: int = option(2, "keep the last k (the best is kept apart)")
  generate_every: int = option(500, "log samples every N steps (0: never)")
  sample_prompt: str | None = option(
    None,
    f"prompt of logged samples (default {DEFAULT_PROMPT!r}, or the text's first "
    "characters when its vocabulary lacks one of those)",
  )
  sample_tokens: int = option(200, "new characters per logged sample")
  num_samples: int = option(2, "samples per log")
  progress: bool = option(True, "draw a progress bar")

  def sizes(self) -> tuple[int, int, int]:
    n_layer, n_head, n_embd = MODEL_TYPES[self.model_type]
    return (self.n_layer or n_layer, self.n_head or n_head, self.n_embd or n_embd)

  def validate(self) -> None:
    """Checks every value before any download or training starts."""
    check_choice("--model-type", self.model_type, tuple(MODEL_TYPES))
    check_choice("--precision", self.precision, PRECISIONS)
    check_choice("--lr-schedule", self.lr_schedule, SCHEDULES)
    check_choice("--norm", self.norm, NORMS)
    for name in ("n_layer", "n_head", "n_embd"):
      if getattr(self, name) is not None:
        check_positive("--" + name.replace("_", "-"), getattr(self, name))
    n_layer, n_head, n_embd = self.sizes()
    if n_embd % n_head:
      raise ConfigError(
        f"n_embd {n_embd} is not divisible by n_head {n_head}; "
        "pick sizes with n_embd a multiple of n_head."
      )
    if not self.abs_emb and (n_embd // n_head) % 2:
      raise ConfigError(
        f"RoPE needs an even head dimension, got {n_embd // n_head}; "
        "change --n-embd/--n-head or pass --abs-emb."
      )
    for name in (
      "block_size",
      "train_batch_size",
      "num_epochs",
      "log_every",
      "eval_every",
      "eval_iters",
      "checkpoint_every",
      "keep_checkpoints",
      "sample_tokens",
      "num_samples",
    ):
      check_positive("--" + name.replace("_", "-"), getattr(self, name))
    if self.max_steps is not None:
      check_positive("--max-steps", self.max_steps)
    check_positive("--generate-every", self.generate_every, minimum=0)
    check_positive("--warmup-steps", self.warmup_steps, minimum=0)
    for name in (
      "dropout",
      "learning_rate",
      "min_learning_rate",
      "weight_decay",
      "beta1",
      "beta2",
      "clip_grad_norm",
      "val_fraction",
    ):
      check_finite("--" + name.replace("_", "-"), getattr(self, name))
    if not 0.0 <= self.dropout < 1.0:
      raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}.")
    if not self.learning_rate > 0:
      raise ConfigError(f"--learning-rate must be > 0, got {self.learning_rate}.")
    if not 0 <= self.min_learning_rate <= self.learning_rate:
      raise ConfigError(
        f"--min-learning-rate must be in [0, --learning-rate], got {self.min_learning_rate}."
      )
    if self.weight_decay < 0:
      raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}.")
    if not self.clip_grad_norm > 0:
      raise ConfigError(f"--clip-grad-norm must be > 0, got {self.clip_grad_norm}.")
    for name, b in (("--beta1", self.beta1), ("--beta2", self.beta2)):
      if not 0.0 <= b < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {b}.")
    if not 0.0 <= self.val_fraction < 1.0:
      raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}.")
    if self.generate_every and self.sample_prompt == "":
      raise ConfigError("--sample-prompt is empty; give a prompt or pass --generate-every 0.")
    if self.resume and self.overwrite:
      raise ConfigError("--resume and --overwrite contradict each other; pass one of them.")

  def model_config(self, vocab_size: int, backend: str) -> ModelConfig:
    n_layer, n_head, n_embd = self.sizes()
    accelerator = backend in ("gpu", "tpu", "cuda", "rocm")
    precision = self.precision if self.precision != "auto" else ("bf16" if accelerator else "fp32")
    fused = self.fused_attention if self.fused_attention is not None else accelerator
    return ModelConfig(
      vocab_size=vocab_size,
      n_layer=n_layer,
      n_head=n_head,
      n_embd=n_embd,
      block_size=self.block_size,
      dropout=self.dropout,
      abs_emb=self.abs_emb,
      norm=self.norm,
      fused_attention=fused,
      dtype="bfloat16" if precision == "bf16" else "float32",
    )


# The settings that decide a run's numbers: `--resume` refuses a change to any of them (the
# model flags are checked through the model config, the text through its digest). The step
# count decides the numbers only through a decaying schedule (see train.RunDir).
DECIDING = (
  "train_batch_size",
  "learning_rate",
  "lr_schedule",
  "warmup_steps",
  "min_learning_rate",
  "weight_decay",
  "beta1",
  "beta2",
  "clip_grad_norm",
  "seed",
  "val_fraction",
)


def to_dict(cfg) -> dict:
  return dataclasses.asdict(cfg)

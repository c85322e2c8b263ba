"""Typed configs: model sizes by name (`ModelConfig`), one training run (`Config`) and one
sampling run (`GenerateConfig`).

Every field with help text is also a flag of gpt-train or gpt-generate (core/flags.py);
`validate()` refuses bad values with one line before any download or training. `DECIDING`
lists the settings a resumed run must keep (they decide its numbers); the model's settings are
checked through `ModelConfig` and the text through its digest.
"""

import dataclasses
from dataclasses import dataclass

from hw2_jax.core import rundir
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.flags import check, option

COMMAND = "gpt-train"
DEFAULT_OUT = "runs/gpt"
# name -> (n_layer, n_head, n_embd), as in the assignment.
MODEL_TYPES = {
  "gpt-nano": (3, 3, 48),
  "gpt-micro": (4, 4, 128),
  "gpt-mini": (6, 6, 384),
  "gopher-44m": (8, 16, 512),
  "gpt2": (12, 12, 768),
}
PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_PROMPT = "Yesterday I went "
DECIDING = (
  "train_batch_size", "learning_rate", "lr_schedule", "warmup_steps", "min_learning_rate",
  "weight_decay", "beta1", "beta2", "clip_grad_norm", "seed", "val_fraction",
)  # fmt: skip
# What else names a run's default folder: the model and the text.
_NAMING = ("txt_file", "model_type", "n_layer", "n_head", "n_embd", "block_size", "dropout",
           "abs_emb", "norm", "precision")  # fmt: skip


def resolve_precision(precision: str, backend: str) -> str:
  """`auto` is bf16 on a GPU or TPU and fp32 on a CPU; core/precision.py says what each means."""
  if precision != "auto":
    return precision
  return "bf16" if backend in ("gpu", "tpu", "cuda", "rocm") else "fp32"


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
  precision: str = "fp32"  # of every matmul (core/precision.py); the rest is float32
  rope_base: float = 10000.0

  @property
  def head_dim(self) -> int:
    return self.n_embd // self.n_head

  @classmethod
  def from_dict(cls, d: dict) -> "ModelConfig":
    """A recorded model config (older records give the matmul `dtype` instead)."""
    d = dict(d)
    if "dtype" in d:
      d["precision"] = "bf16" if d.pop("dtype") == "bfloat16" else "fp32"
    return cls(**d)


@dataclass(frozen=True)
class Config:
  """One gpt-train run."""

  txt_file: str | None = option(
    None, "UTF-8 training text; default: the assignment's Grimms' Fairy Tales, downloaded "
    "once into --cache-dir and checked against its sha256",
  )  # fmt: skip
  cache_dir: str | None = option(None, "download cache (default ~/.cache/hw2_jax)")
  model_type: str = option("gpt-mini", "the model's size", choices=tuple(MODEL_TYPES))
  n_layer: int | None = option(None, "override the model type's layers", low=1, high=1024)
  n_head: int | None = option(None, "override the model type's heads", low=1, high=1024)
  n_embd: int | None = option(None, "override the model type's width", low=1, high=65536)
  block_size: int = option(128, "context length", low=1, high=1 << 20)
  dropout: float = option(
    0.1, "on embeddings, attention probabilities and residuals", low=0.0, below=1.0
  )
  abs_emb: bool = option(False, "learned absolute position embedding instead of RoPE")
  norm: str = option(
    "rmsnorm", "rmsnorm, or layernorm (GPT-2's and nanoGPT's)", choices=("rmsnorm", "layernorm")
  )
  fused_attention: bool | None = option(
    None, "jax.nn.dot_product_attention (default: on GPU/TPU, off on CPU; training with "
    "dropout > 0 uses the explicit path, which applies attention dropout)",
  )  # fmt: skip
  precision: str = option(
    "auto", "matmuls in fp32 (full float32 on every backend) or bf16 (bfloat16 operands, "
    "float32 accumulation; parameters, residual stream, norms, softmax and loss stay "
    "float32); auto = bf16 on GPU/TPU, fp32 on CPU",
    choices=PRECISIONS,
  )  # fmt: skip
  train_batch_size: int = option(128, "sequences per step (split over every device)", low=1)
  learning_rate: float = option(5e-4, "AdamW peak learning rate", above=0.0)
  lr_schedule: str = option(
    "constant", "constant, or cosine: linear warm-up, then cosine decay to "
    "--min-learning-rate at the last step", choices=("constant", "cosine"),
  )  # fmt: skip
  warmup_steps: int = option(0, "linear warm-up steps (cosine schedule)")
  min_learning_rate: float = option(0.0, "where the cosine schedule ends", low=0.0)
  weight_decay: float = option(0.1, "AdamW weight decay, on linear weights only", low=0.0)
  beta1: float = option(0.9, "AdamW beta1", low=0.0, below=1.0)
  beta2: float = option(0.95, "AdamW beta2", low=0.0, below=1.0)
  clip_grad_norm: float = option(1.0, "global gradient-norm clipping", above=0.0)
  num_epochs: int = option(
    5, "one epoch = (training characters - block_size) // batch steps", low=1, high=1_000_000
  )
  max_steps: int | None = option(None, "stop after this many steps", low=1)
  seed: int = option(0, "initialisation, batches, dropout, samples")
  val_fraction: float = option(
    0.1, "the last fraction of the text is held out for validation (0: train on all of it, "
    "as the assignment does)", low=0.0, below=1.0,
  )  # fmt: skip
  eval_every: int = option(500, "validation loss every N steps (and at the end)", low=1)
  eval_iters: int = option(
    20, "validation batches per evaluation (the same ones every time)", low=1, high=100_000
  )
  out: str | None = option(
    None, f"run directory: logs, checkpoints, samples (default: {DEFAULT_OUT} for the default "
    f"model and training settings, {DEFAULT_OUT}-<the settings that differ> otherwise)",
  )  # fmt: skip
  resume: bool = option(False, "continue the run in --out")
  overwrite: bool = option(False, "replace the run in --out")
  log_every: int = option(
    10, "fetch metrics from the device every N steps, which run as one device call (every "
    "step is logged; Ctrl-C/SIGTERM takes effect after the call)", low=1,
  )  # fmt: skip
  checkpoint_every: int = option(500, "also at the end and on Ctrl-C/SIGTERM", low=1)
  keep_checkpoints: int = option(2, "keep the last k (the best is kept apart)", low=1)
  generate_every: int = option(500, "log samples every N steps (0: never)")
  sample_prompt: str | None = option(
    None, f"prompt of logged samples (default {DEFAULT_PROMPT!r}, or the text's first "
    "characters when its vocabulary lacks one of those)",
  )  # fmt: skip
  sample_tokens: int = option(200, "new characters per logged sample", low=1, high=100_000)
  num_samples: int = option(2, "samples per log", low=1, high=1024)
  progress: bool = option(True, "draw a progress bar")

  def sizes(self) -> tuple[int, int, int]:
    n_layer, n_head, n_embd = MODEL_TYPES[self.model_type]
    return (self.n_layer or n_layer, self.n_head or n_head, self.n_embd or n_embd)

  def validate(self) -> None:
    """Checks every value before any download or training starts."""
    check(self)
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
    if self.min_learning_rate > self.learning_rate:
      raise ConfigError(
        f"--min-learning-rate must be in [0, --learning-rate], got {self.min_learning_rate}."
      )
    if self.generate_every and self.sample_prompt == "":
      raise ConfigError("--sample-prompt is empty; give a prompt or pass --generate-every 0.")
    if self.resume and self.overwrite:
      raise ConfigError("--resume and --overwrite contradict each other; pass one of them.")

  def check_steps(self, total_steps: int) -> None:
    """Refuses a warm-up longer than the run (known once the text is read)."""
    if self.lr_schedule == "cosine" and self.warmup_steps >= total_steps:
      raise ConfigError(
        f"--warmup-steps {self.warmup_steps} is not shorter than the run's {total_steps} "
        "steps; pass fewer warm-up steps or more --max-steps/--num-epochs."
      )

  def with_out(self) -> "Config":
    """This config with --out resolved (core/rundir.default_out)."""
    if self.out is not None:
      return self
    keys = (*_NAMING, *DECIDING)
    ours, theirs = ({k: getattr(c, k) for k in keys} for c in (self, Config()))
    return dataclasses.replace(self, out=rundir.default_out(DEFAULT_OUT, ours, theirs, keys))

  def model_config(self, vocab_size: int, backend: str) -> ModelConfig:
    n_layer, n_head, n_embd = self.sizes()
    accelerator = backend in ("gpu", "tpu", "cuda", "rocm")
    fused = self.fused_attention if self.fused_attention is not None else accelerator
    return ModelConfig(
      vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
      block_size=self.block_size, dropout=self.dropout, abs_emb=self.abs_emb, norm=self.norm,
      fused_attention=fused, precision=resolve_precision(self.precision, backend),
    )  # fmt: skip


@dataclass(frozen=True)
class GenerateConfig:
  """gpt-generate's settings (sampling from a trained run)."""

  checkpoint: str | None = option(
    None, "the --out directory of a gpt-train run (default: the newest gpt-train run under "
    "runs/)",
  )  # fmt: skip
  which: str = option("best", "best (lowest validation loss) or last checkpoint",
                      choices=("best", "last"))  # fmt: skip
  step: int | None = option(None, "a checkpoint step of --which (default: its latest)")
  prompt: str = option(DEFAULT_PROMPT, "text to continue")
  num_samples: int = option(1, "samples, decoded as one batch", low=1, high=4096)
  max_new_tokens: int = option(500, "characters to add", low=1, high=1_000_000)
  greedy: bool = option(False, "argmax decoding")
  temperature: float = option(1.0, "logits are divided by it (--greedy: argmax)", above=0.0)
  top_k: int | None = option(None, "sample among the k most likely", low=1)
  top_p: float | None = option(
    None, "sample in the smallest set of most likely tokens with mass >= p", above=0.0, high=1.0
  )
  seed: int = option(0, "sampling seed")
  precision: str = option("auto", "fp32 or bf16 (auto: the run's)", choices=PRECISIONS)
  no_cache: bool = option(False, "recompute the context every token")
  out: str | None = option(None, "also write the samples to this text file")

  def validate(self) -> None:
    check(self)
    if self.top_k is not None and self.top_p is not None:
      raise ConfigError("--top-k and --top-p can't be used together; pass one of them.")
    if not self.prompt:
      raise ConfigError("--prompt is empty; give at least one character.")

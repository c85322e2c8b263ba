"""Commands: gpt-train, gpt-generate, gpt-plot."""

import dataclasses

from hw2_jax.core import flags, io
from hw2_jax.core.errors import ConfigError, check_choice, check_finite, check_positive
from hw2_jax.gpt.config import MODEL_TYPES, PRECISIONS, Config


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
  """gpt-generate's settings (sampling from a trained run)."""

  checkpoint: str = flags.option(None, "the --out directory of a gpt-train run")
  which: str = flags.option("best", "best (lowest validation loss) or last checkpoint")
  step: int | None = flags.option(None, "a checkpoint step of --which (default: its latest)")
  prompt: str = flags.option("Yesterday I went ", "text to continue")
  num_samples: int = flags.option(1, "samples, decoded as one batch")
  max_new_tokens: int = flags.option(500, "characters to add")
  greedy: bool = flags.option(False, "argmax decoding")
  temperature: float = flags.option(1.0, "logits are divided by it")
  top_k: int | None = flags.option(None, "sample among the k most likely")
  top_p: float | None = flags.option(
    None, "sample in the smallest set of most likely tokens with mass >= p"
  )
  seed: int = flags.option(0, "sampling seed")
  precision: str = flags.option("auto", ", ".join(PRECISIONS) + " (auto: the run's)")
  no_cache: bool = flags.option(False, "recompute the context every token")
  out: str | None = flags.option(None, "also write the samples to this text file")

  def validate(self) -> None:
    if self.checkpoint is None:
      raise ConfigError("--checkpoint is required: the --out directory of a gpt-train run.")
    check_choice("--which", self.which, ("last", "best"))
    check_choice("--precision", self.precision, PRECISIONS)
    check_positive("--num-samples", self.num_samples)
    check_positive("--max-new-tokens", self.max_new_tokens)
    if self.top_k is not None and self.top_p is not None:
      raise ConfigError("--top-k and --top-p can't be used together; pass one of them.")
    check_finite("--temperature", self.temperature)
    if not self.temperature > 0:
      raise ConfigError(
        f"--temperature must be > 0, got {self.temperature}; use --greedy for argmax decoding."
      )
    if self.top_k is not None:
      check_positive("--top-k", self.top_k)
    if self.top_p is not None and not 0 < self.top_p <= 1:
      raise ConfigError(f"--top-p must be in (0, 1], got {self.top_p}.")
    if not self.prompt:
      raise ConfigError("--prompt is empty; give at least one character.")
    if self.out is not None:
      path = io.as_path(self.out)
      if path.is_dir():
        raise ConfigError(f"--out {self.out!r} is a folder; pass a file path for the samples.")
      io.ensure_writable_dir(path.parent, "--out")


def register(subparsers) -> None:
  p = subparsers.add_parser(
    "gpt-train",
    help="train the character-level GPT on a text file",
    description="Train the character-level GPT (RoPE, RMSNorm, AdamW) on a text file; "
    "logs, samples, checkpoints and plots go to --out. Model sizes: "
    + ", ".join(f"{k} {v}" for k, v in MODEL_TYPES.items())
    + " (layers, heads, width). Ctrl-C or SIGTERM saves a checkpoint and stops; "
    "--resume continues bit for bit.",
    formatter_class=flags.HelpFormatter,
  )
  flags.add_flags(p, Config)
  p.add_argument("--no-plots", action="store_true", help="skip the plots at the end")
  p.set_defaults(func=run_train)

  p = subparsers.add_parser(
    "gpt-generate",
    help="sample text from a trained GPT",
    description="Generate text from a gpt-train run directory (KV-cached decoding).",
    formatter_class=flags.HelpFormatter,
  )
  flags.add_flags(p, GenerateConfig)
  p.set_defaults(func=run_generate)

  p = subparsers.add_parser(
    "gpt-plot",
    help="plot a GPT run's training curves",
    description="Draw loss/accuracy per step and per epoch (with the validation loss when "
    "the run held text out), and epoch against step, from a gpt-train run's "
    "metrics.jsonl.",
    formatter_class=flags.HelpFormatter,
  )
  p.add_argument("--run", required=True, help="the --out directory of a gpt-train run")
  p.add_argument("--out", default=None, help="figure directory (default RUN/plots)")
  p.set_defaults(func=run_plot)


def run_train(args) -> None:
  from hw2_jax.core import devices
  from hw2_jax.gpt.plot import plot_run
  from hw2_jax.gpt.train import train_and_evaluate

  cfg = flags.from_args(Config, args)
  summary = train_and_evaluate(cfg)
  if summary is None:
    return
  val = (
    f", validation loss {summary['val_loss']:.4f} (best {summary['best_val_loss']:.4f})"
    if summary["val_loss"] is not None
    else ""
  )
  print(
    f"done: {summary['steps']} steps ({summary['epochs']:.3f} epochs), last loss "
    f"{summary['final_loss']:.4f}{val}, median {summary['tokens_per_s_median']:,.0f} "
    f"tokens/s, {summary['train_wall_s']:.0f} s on {summary['device']}"
  )
  for s in summary["samples"]:
    print("---\n" + s)
  if not args.no_plots and devices.is_main_process():
    for path in plot_run(cfg.out):
      print(f"wrote {path}")


def run_generate(args) -> None:
  gen = flags.from_args(GenerateConfig, args)
  gen.validate()
  import jax

  from hw2_jax.gpt.generate import Generator
  from hw2_jax.gpt.train import restore_run

  model_cfg, params, tok, meta = restore_run(gen.checkpoint, gen.which, gen.step)
  prompt_T = tok.encode(gen.prompt)
  if gen.top_k is not None and gen.top_k > tok.vocab_size:
    raise ConfigError(f"--top-k {gen.top_k} exceeds the vocabulary size {tok.vocab_size}.")
  precision = meta["config"]["precision"] if gen.precision == "auto" else gen.precision
  run_cfg = dataclasses.replace(
    Config(), precision=precision, fused_attention=meta["config"]["fused_attention"]
  )
  resolved = run_cfg.model_config(tok.vocab_size, jax.default_backend())
  model_cfg = dataclasses.replace(
    model_cfg, dtype=resolved.dtype, fused_attention=resolved.fused_attention
  )
  ids = Generator(model_cfg).generate(
    params,
    prompt_T,
    gen.num_samples,
    gen.max_new_tokens,
    jax.random.key(gen.seed),
    greedy=gen.greedy,
    temperature=gen.temperature,
    top_k=gen.top_k,
    top_p=gen.top_p,
    use_cache=not gen.no_cache,
  )
  samples = [tok.decode(row) for row in ids]
  text = "".join(f"--- sample {i + 1} (step {meta['step']})\n{s}\n" for i, s in enumerate(samples))
  print(text, end="")
  if gen.out:
    io.write_text(gen.out, text)


def run_plot(args) -> None:
  from hw2_jax.gpt.plot import plot_run

  for path in plot_run(args.run, args.out):
    print(f"wrote {path}")

"""Commands: gpt-train, gpt-generate, gpt-plot."""

import dataclasses
import math
import sys

from hw2_jax.core import flags, io, memory
from hw2_jax.core.errors import ConfigError
from hw2_jax.gpt.config import MODEL_TYPES, Config, GenerateConfig, resolve_precision


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
  from hw2_jax.gpt.report import plot_run
  from hw2_jax.gpt.study import train_and_evaluate

  cfg = flags.from_args(Config, args).with_out()
  summary = train_and_evaluate(cfg)
  if summary is None:
    return
  val = (
    f", validation loss {summary['val_loss']:.4f} (best {summary['best_val_loss']:.4f})"
    if summary["val_loss"] is not None
    else ""
  )
  tokens_per_s = summary["tokens_per_s_median"]
  rate = (
    f"median {tokens_per_s:,.0f} tokens/s"
    if math.isfinite(tokens_per_s)
    else "tokens/s not measured (too short a run: its first device call, which compiles, is left out)"
  )
  print(
    f"done: {summary['steps']} steps ({summary['epochs']:.3f} epochs), last loss "
    f"{summary['final_loss']:.4f}{val}, {rate}, {summary['train_wall_s']:.0f} s on "
    f"{summary['device']}"
  )
  if not args.no_plots and devices.is_main_process():
    plot_run(cfg.out)


def _generate_bytes(model_cfg, num_samples: int) -> float:
  """The key/value cache and the logits of `num_samples` rows (core/memory.estimate)."""
  cache = 2 * model_cfg.n_layer * model_cfg.block_size * model_cfg.n_embd
  return memory.estimate(params=0, copies=0, activations=num_samples * (
    cache + 4 * model_cfg.block_size * (model_cfg.n_embd + model_cfg.vocab_size)))  # fmt: skip


def run_generate(args) -> None:
  gen = flags.from_args(GenerateConfig, args)
  gen.validate()
  import jax

  from hw2_jax.gpt.checkpoints import newest_run, restore_run
  from hw2_jax.gpt.generate import Generator

  if gen.out is not None:
    if io.as_path(gen.out).is_dir():
      raise ConfigError(f"--out {gen.out!r} is a folder; pass a file path for the samples.")
    io.ensure_writable_dir(io.as_path(gen.out).parent, "--out")
  checkpoint = gen.checkpoint or newest_run()
  if checkpoint is None:
    raise ConfigError(
      "no gpt-train run under runs/ to sample from; train one (make gpt-train) or pass "
      "--checkpoint DIR."
    )
  if gen.checkpoint is None:
    print(f"sampling from {checkpoint} (the newest gpt-train run)", file=sys.stderr)
  model_cfg, params, tok, meta = restore_run(checkpoint, gen.which, gen.step)
  prompt_T = tok.encode(gen.prompt)
  if gen.top_k is not None and gen.top_k > tok.vocab_size:
    raise ConfigError(f"--top-k {gen.top_k} exceeds the vocabulary size {tok.vocab_size}.")
  precision = meta["config"]["precision"] if gen.precision == "auto" else gen.precision
  model_cfg = dataclasses.replace(
    model_cfg, precision=resolve_precision(precision, jax.default_backend()),
    fused_attention=model_cfg.fused_attention if meta["config"]["fused_attention"] is not None
    else jax.default_backend() != "cpu",
  )  # fmt: skip
  memory.check_fits(_generate_bytes(model_cfg, gen.num_samples),
                    f"--num-samples {gen.num_samples}", "lower --num-samples")  # fmt: skip
  ids = Generator(model_cfg).generate(
    params, prompt_T, gen.num_samples, gen.max_new_tokens, jax.random.key(gen.seed),
    greedy=gen.greedy, temperature=gen.temperature, top_k=gen.top_k, top_p=gen.top_p,
    use_cache=not gen.no_cache,
  )  # fmt: skip
  samples = [tok.decode(row) for row in ids]
  text = "".join(f"--- sample {i + 1} (step {meta['step']})\n{s}\n" for i, s in enumerate(samples))
  print(text, end="")
  if gen.out:
    io.write_text(gen.out, text)


def run_plot(args) -> None:
  from hw2_jax.gpt.report import plot_run

  plot_run(args.run, args.out)

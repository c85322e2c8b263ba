"""Commands: gpt-train, gpt-generate, gpt-plot."""

import argparse
import dataclasses
import sys

from hw2_jax.core.errors import ConfigError, check_choice, check_positive
from hw2_jax.gpt.config import MODEL_TYPES, PRECISIONS, TrainConfig

_FMT = argparse.ArgumentDefaultsHelpFormatter


def register(subparsers) -> None:
  d = TrainConfig(out="runs/gpt")
  p = subparsers.add_parser(
      "gpt-train", help="train the character-level GPT on a text file",
      description="Train the character-level GPT (RoPE, RMSNorm, AdamW) on a text file; "
                  "logs, samples, checkpoints and plots go to --out.", formatter_class=_FMT)
  p.add_argument("--txt-file", default=None,
                 help="UTF-8 training text; default: download Grimms' Fairy Tales "
                      "(Project Gutenberg #2591) into --cache-dir once")
  p.add_argument("--cache-dir", default=None, help="download cache (default ~/.cache/hw2_jax)")
  p.add_argument("--model-type", default=d.model_type, help=", ".join(MODEL_TYPES))
  p.add_argument("--n-layer", type=int, default=None, help="override the model type's layers")
  p.add_argument("--n-head", type=int, default=None, help="override the model type's heads")
  p.add_argument("--n-embd", type=int, default=None, help="override the model type's width")
  p.add_argument("--block-size", type=int, default=d.block_size, help="context length")
  p.add_argument("--dropout", type=float, default=d.dropout,
                 help="on embeddings, attention probabilities and residuals")
  p.add_argument("--abs-emb", action="store_true",
                 help="learned absolute position embedding instead of RoPE")
  p.add_argument("--fused-attention", action=argparse.BooleanOptionalAction, default=None,
                 help="jax.nn.dot_product_attention (default: on GPU/TPU, off on CPU)")
  p.add_argument("--precision", default=d.precision,
                 help=f"{', '.join(PRECISIONS)}; auto = bf16 compute on GPU/TPU, fp32 on CPU")
  p.add_argument("--train-batch-size", type=int, default=d.train_batch_size,
                 help="sequences per step (split over devices)")
  p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="AdamW")
  p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                 help="on linear weights only")
  p.add_argument("--beta1", type=float, default=d.beta1, help="AdamW beta1")
  p.add_argument("--beta2", type=float, default=d.beta2, help="AdamW beta2")
  p.add_argument("--clip-grad-norm", type=float, default=d.clip_grad_norm,
                 help="global gradient-norm clipping")
  p.add_argument("--num-epochs", type=int, default=d.num_epochs,
                 help="one epoch = (len(text) - block_size) // batch steps")
  p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
  p.add_argument("--seed", type=int, default=d.seed, help="initialisation, batches, dropout")
  p.add_argument("--out", default=d.out, help="run directory: logs, checkpoints, samples")
  p.add_argument("--resume", action="store_true", help="continue the run in --out")
  p.add_argument("--log-every", type=int, default=d.log_every,
                 help="fetch metrics from the device every N steps (every step is logged)")
  p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                 help="also at the end and on Ctrl-C")
  p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints,
                 help="keep the last k (the best by training loss is kept apart)")
  p.add_argument("--generate-every", type=int, default=d.generate_every,
                 help="log samples every N steps (0: never)")
  p.add_argument("--sample-prompt", default=d.sample_prompt, help="prompt of logged samples")
  p.add_argument("--sample-tokens", type=int, default=d.sample_tokens,
                 help="new characters per logged sample")
  p.add_argument("--num-samples", type=int, default=d.num_samples, help="samples per log")
  p.add_argument("--no-progress", action="store_true", help="no progress bar")
  p.add_argument("--no-plots", action="store_true", help="skip the plots at the end")
  p.set_defaults(func=run_train)

  p = subparsers.add_parser(
      "gpt-generate", help="sample text from a trained GPT",
      description="Generate text from a gpt-train run directory (KV-cached decoding).",
      formatter_class=_FMT)
  p.add_argument("--checkpoint", required=True, help="the --out directory of a gpt-train run")
  p.add_argument("--which", default="last", help="last or best checkpoint")
  p.add_argument("--prompt", default="Yesterday I went ", help="text to continue")
  p.add_argument("--num-samples", type=int, default=1, help="samples, decoded as one batch")
  p.add_argument("--max-new-tokens", type=int, default=500, help="characters to add")
  p.add_argument("--greedy", action="store_true", help="argmax decoding")
  p.add_argument("--temperature", type=float, default=1.0, help="logits are divided by it")
  p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely")
  p.add_argument("--top-p", type=float, default=None,
                 help="sample in the smallest set of most likely tokens with mass >= p")
  p.add_argument("--seed", type=int, default=0, help="sampling seed")
  p.add_argument("--precision", default="auto", help=", ".join(PRECISIONS))
  p.add_argument("--no-cache", action="store_true", help="recompute the context every token")
  p.add_argument("--out", default=None, help="also write the samples to this text file")
  p.set_defaults(func=run_generate)

  p = subparsers.add_parser(
      "gpt-plot", help="plot a GPT run's training curves",
      description="Draw loss/accuracy per step and per epoch, and epoch against step, "
                  "from a gpt-train run's metrics.jsonl.", formatter_class=_FMT)
  p.add_argument("--run", required=True, help="the --out directory of a gpt-train run")
  p.add_argument("--out", default=None, help="figure directory (default RUN/plots)")
  p.set_defaults(func=run_plot)


def train_config(args) -> TrainConfig:
  names = {f.name for f in dataclasses.fields(TrainConfig)}
  kwargs = {k: v for k, v in vars(args).items() if k in names}
  return TrainConfig(progress=not args.no_progress, **kwargs)


def run_train(args) -> None:
  from hw2_jax.gpt.plot import plot_run
  from hw2_jax.gpt.train import train_and_evaluate

  cfg = train_config(args)
  try:
    summary = train_and_evaluate(cfg)
  except KeyboardInterrupt:
    sys.exit(130)
  print(f"done: {summary['steps']} steps ({summary['epochs']:.3f} epochs), last loss "
        f"{summary['final_loss']:.4f}, median {summary['tokens_per_s_median']:,.0f} tokens/s, "
        f"{summary['train_wall_s']:.0f} s on {summary['device']}")
  for s in summary["samples"]:
    print("---\n" + s)
  if not args.no_plots:
    for path in plot_run(cfg.out):
      print(f"wrote {path}")


def validate_generate(args) -> None:
  check_choice("--which", args.which, ("last", "best"))
  check_choice("--precision", args.precision, PRECISIONS)
  check_positive("--num-samples", args.num_samples)
  check_positive("--max-new-tokens", args.max_new_tokens)
  if args.top_k is not None and args.top_p is not None:
    raise ConfigError("--top-k and --top-p can't be used together; pass one of them.")
  if not args.temperature > 0:
    raise ConfigError(f"--temperature must be > 0, got {args.temperature}; use --greedy "
                      "for argmax decoding.")
  if args.top_k is not None:
    check_positive("--top-k", args.top_k)
  if args.top_p is not None and not 0 < args.top_p <= 1:
    raise ConfigError(f"--top-p must be in (0, 1], got {args.top_p}.")
  if not args.prompt:
    raise ConfigError("--prompt is empty; give at least one character.")


def run_generate(args) -> None:
  validate_generate(args)
  import jax

  from hw2_jax.core.io import write_text
  from hw2_jax.gpt.generate import Generator
  from hw2_jax.gpt.train import restore_run

  model_cfg, params, tok, meta = restore_run(args.checkpoint, args.which)
  prompt_T = tok.encode(args.prompt)
  if args.top_k is not None and args.top_k > tok.vocab_size:
    raise ConfigError(f"--top-k {args.top_k} exceeds the vocabulary size {tok.vocab_size}.")
  precision = meta["config"]["precision"] if args.precision == "auto" else args.precision
  run_cfg = dataclasses.replace(TrainConfig(out=""), precision=precision,
                                fused_attention=meta["config"]["fused_attention"])
  resolved = run_cfg.model_config(tok.vocab_size, jax.default_backend())
  model_cfg = dataclasses.replace(model_cfg, dtype=resolved.dtype,
                                  fused_attention=resolved.fused_attention)
  ids = Generator(model_cfg).generate(
      params, prompt_T, args.num_samples, args.max_new_tokens, jax.random.PRNGKey(args.seed),
      greedy=args.greedy, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
      use_cache=not args.no_cache)
  samples = [tok.decode(row) for row in ids]
  text = "".join(f"--- sample {i + 1} (step {meta['step']})\n{s}\n" for i, s in enumerate(samples))
  print(text, end="")
  if args.out:
    write_text(args.out, text)


def run_plot(args) -> None:
  from hw2_jax.gpt.plot import plot_run
  for path in plot_run(args.run, args.out):
    print(f"wrote {path}")

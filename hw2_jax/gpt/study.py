"""The GPT's driver: text, model and optimizer set up, training or resuming, evaluation,
samples, checkpoints and the summary.

`train_and_evaluate(config)` claims --out (core/rundir.py), sets the run up (`_setup`: the
text, its split, the model, the jitted steps, every size checked before work), prints the plan,
then runs `train.train_loop`, whose events between device calls (`_Events`) write the log
(metrics.py), evaluate, sample and save checkpoints (checkpoints.py). Ctrl-C or SIGTERM saves a
checkpoint after the device call in progress; --resume continues bit for bit.
"""

import dataclasses
import functools
import json
import math
import resource
import time
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm import tqdm

from hw2_jax.core import checkpoint, devices, interrupt, memory, rng, rundir
from hw2_jax.core.errors import ConfigError, RunError
from hw2_jax.gpt import data as data_lib
from hw2_jax.gpt.checkpoints import RunCheckpoints
from hw2_jax.gpt.config import COMMAND, DEFAULT_PROMPT, Config, ModelConfig
from hw2_jax.gpt.generate import get_generator
from hw2_jax.gpt.metrics import MetricsLog, NonFinite
from hw2_jax.gpt.model import attention_path, num_params
from hw2_jax.gpt.optimizer import from_config, schedule_from_config
from hw2_jax.gpt.tokenizer import CharTokenizer
from hw2_jax.gpt.train import (
  bytes_per_device,
  create_state,
  make_eval_step,
  make_train_step,
  train_loop,
)  # fmt: skip

# A plan longer than this on a CPU gets the suggestion of a CPU-sized run.
CPU_HOUR_S = 3600.0
CPU_COMMAND = "--model-type gpt-micro --max-steps 500"


def _sample_prompt(cfg: Config, tok: CharTokenizer, text: str, log) -> str:
  """The prompt of logged samples: --sample-prompt, else the default if the vocabulary has
  its characters, else the text's first characters (said once)."""
  if cfg.sample_prompt is not None:
    try:
      tok.encode(cfg.sample_prompt)
    except ConfigError as e:
      raise ConfigError(f"--sample-prompt: {e} (or pass --generate-every 0)") from None
    return cfg.sample_prompt
  if all(c in tok.stoi for c in DEFAULT_PROMPT):
    return DEFAULT_PROMPT
  prompt = text[: len(DEFAULT_PROMPT)]
  log(f"gpt: the text lacks characters of the default sample prompt {DEFAULT_PROMPT!r}; "
      f"samples start from its first characters {prompt!r} instead")  # fmt: skip
  return prompt


class _Run(NamedTuple):
  """What a run is set up with before its first step."""

  model_cfg: ModelConfig
  tok: CharTokenizer
  text_sha256: str
  train_N: Any
  val_N: Any
  spe: int
  total_steps: int
  prompt: str
  tx: Any
  steps_fn: Any  # num_steps -> the jitted function running that many steps
  eval_fn: Any
  mesh: Any


def _split(cfg: Config, tok: CharTokenizer, text: str):
  train_ids, val_ids = data_lib.split(tok.encode(text), cfg.val_fraction)
  spe = data_lib.steps_per_epoch(len(train_ids), cfg.block_size, cfg.train_batch_size)
  if spe < 1:
    raise ConfigError(
      f"the training text has {len(train_ids)} characters, too few for one batch of "
      f"{cfg.train_batch_size} windows of {cfg.block_size + 1}; pass a longer --txt-file or a "
      "smaller --train-batch-size/--block-size."
    )
  if cfg.val_fraction and len(val_ids) <= cfg.block_size:
    raise ConfigError(
      f"--val-fraction {cfg.val_fraction} holds out {len(val_ids)} characters, "
      f"fewer than one window of {cfg.block_size + 1}; raise it, or pass 0."
    )
  return train_ids, val_ids, spe


def _attention(model_cfg: ModelConfig) -> str:
  """The attention a run trains with, and evaluates and samples with where that differs."""
  train, evaluate = attention_path(model_cfg, True), attention_path(model_cfg, False)
  return train if train == evaluate else f"{train} (training), {evaluate} (evaluating)"


def _setup(cfg: Config, ckpts: RunCheckpoints, log) -> _Run:
  text = data_lib.load_text(cfg.txt_file, cfg.cache_dir)
  tok = CharTokenizer.from_text(text)
  train_ids, val_ids, spe = _split(cfg, tok, text)
  total = spe * cfg.num_epochs if cfg.max_steps is None else min(spe * cfg.num_epochs,
                                                                  cfg.max_steps)  # fmt: skip
  cfg.check_steps(total)
  prompt = _sample_prompt(cfg, tok, text, log) if cfg.generate_every else ""
  mesh = devices.mesh()
  if cfg.train_batch_size % mesh.devices.size:
    raise ConfigError(
      f"--train-batch-size {cfg.train_batch_size} does not split over "
      f"{mesh.devices.size} devices; pass a multiple of {mesh.devices.size}."
    )
  model_cfg = cfg.model_config(tok.vocab_size, jax.default_backend())
  memory.check_fits(
    bytes_per_device(model_cfg, cfg.train_batch_size, mesh.devices.size, cfg.eval_iters),
    f"--train-batch-size {cfg.train_batch_size} (and --eval-iters {cfg.eval_iters}) with these "
    "model sizes",
    "lower --train-batch-size, --block-size or --eval-iters, or use more devices",
  )
  digest = data_lib.text_digest(text)
  ckpts.check_resume(tok.chars, digest, dataclasses.asdict(model_cfg), total)
  tx, rep = from_config(cfg, total), devices.replicated(mesh)
  steps_fn = functools.partial(make_train_step, model_cfg, tx, schedule_from_config(cfg, total),
                               cfg.train_batch_size, mesh)  # fmt: skip
  return _Run(
    model_cfg, tok, digest, devices.put(np.asarray(train_ids), rep),
    devices.put(np.asarray(val_ids), rep) if cfg.val_fraction else None, spe, total, prompt,
    tx, steps_fn, make_eval_step(model_cfg, cfg.eval_iters, cfg.train_batch_size, mesh), mesh,
  )  # fmt: skip


def train_and_evaluate(cfg: Config, log=tqdm.write) -> dict | None:
  """Trains `cfg`, writing logs, samples and checkpoints under cfg.out; returns a summary
  (None when a resumed run has nothing left to do)."""
  cfg.validate()
  cfg = cfg.with_out()
  with rundir.claim(cfg.out, COMMAND) as out, RunCheckpoints(out, cfg) as ckpts:
    r = _setup(cfg, ckpts, log)
    state = devices.put(create_state(r.model_cfg, r.tx, cfg.seed), devices.replicated(r.mesh))
    if cfg.resume:
      state, _ = checkpoint.restore(ckpts.last, state)
    start = int(devices.fetch(state.step))
    if start >= r.total_steps:
      log(f"nothing to do: {out} is at step {start} of {r.total_steps}; pass a larger "
          "--max-steps or --num-epochs to train further.")  # fmt: skip
      return None
    log(f"gpt into {out}: {num_params(state.params):,} parameters, {r.model_cfg.precision} "
        f"matmuls, {_attention(r.model_cfg)} attention, on "
        f"{devices.describe()}; {len(r.tok.chars)} characters in the vocabulary, {r.spe} steps "
        f"per epoch, steps {start} -> {r.total_steps} ({r.total_steps / r.spe:.2f} epochs)")  # fmt: skip
    metrics = MetricsLog(out, r.spe, cfg.train_batch_size * cfg.block_size,
                         start if cfg.resume else None)  # fmt: skip
    with _Events(cfg, ckpts, r, metrics, log) as events:
      with interrupt.stop_requests("the current device call") as stop:
        state, step = train_loop(cfg, r.steps_fn, r.train_N, state, start, r.total_steps, events,
                                 stop)  # fmt: skip
      return events.finish(state, step)


def _on_a_cpu() -> bool:
  """Whether the run trains on a CPU (the only backend whose long runs get the CPU-sized hint)."""
  return jax.default_backend() == "cpu"


class _Events:
  """What happens between device calls: the log, the plan, evaluation, samples, checkpoints,
  and the summary at the end. Each flushes the pending metrics first (so a non-finite loss
  stops the run before anything is saved) and keeps its own time out of tokens/s."""

  def __init__(self, cfg: Config, ckpts: RunCheckpoints, r: _Run, log: MetricsLog, say):
    self.cfg, self.ckpts, self.r, self.log, self.say = cfg, ckpts, r, log, say
    self.generator = get_generator(r.model_cfg)
    self.evals, self.samples, self.planned = [], [], False
    self.first_step_s, self.t_start = math.nan, log.t_start  # one clock for elapsed and wall
    self.bar = tqdm(total=r.total_steps, unit="step", dynamic_ncols=True,
                    disable=not (cfg.progress and devices.is_main_process()) or None)  # fmt: skip

  def __enter__(self):
    return self

  def __exit__(self, kind, error, _):
    self.bar.close()
    self.log.close()
    if isinstance(error, NonFinite):
      last = self.ckpts.last_step()
      kept = (f"the last good checkpoint is step {last} in {self.ckpts.last.directory}"
              if last else "no checkpoint was written")  # fmt: skip
      raise RunError(f"{error}; stopped without saving it ({kept}); lower --learning-rate or "
                     "raise --warmup-steps and start again with --overwrite.") from None  # fmt: skip

  def saved_in(self) -> str:
    return str(self.ckpts.last.directory)

  def flush(self, step: int, timed: bool = True) -> None:
    self.log.flush(step, timed)
    if not timed:
      self.first_step_s = time.perf_counter() - self.t_start
    self.bar.update(step - self.bar.n)
    self.bar.set_postfix(epoch=f"{step / self.r.spe:.2f}", loss=f"{self.log.last_loss:.4f}")

  def plan(self, step: int, per_step_s: float) -> None:
    """Once, from the first timed device call: how long the rest of the run will take."""
    if self.planned:
      return
    self.planned = True
    left = (self.r.total_steps - step) * per_step_s
    self.say(f"plan: {self.r.total_steps - step} more steps at {per_step_s:.2f} s a step, "
             f"about {time.strftime('%H:%M:%S', time.gmtime(left))} of training")  # fmt: skip
    if left > CPU_HOUR_S and _on_a_cpu():
      self.say(f"that is over an hour on this CPU: stop with Ctrl-C (it saves) and try a "
               f"CPU-sized run, e.g. `gpt-train {CPU_COMMAND}`, or use a GPU or TPU")  # fmt: skip

  def _meta(self, step: int, loss: float) -> dict:
    r = self.r
    return self.ckpts.meta(
      step, loss, model=dataclasses.asdict(r.model_cfg), vocab=r.tok.chars,
      text_sha256=r.text_sha256, steps_per_epoch=r.spe, total_steps=r.total_steps,
      device=devices.describe(),
    )  # fmt: skip

  def evaluate(self, state, step: int) -> None:
    """Validation loss on the held-out text; the best checkpoint is chosen by it."""
    if self.r.val_N is None:
      return
    self.flush(step)
    fetched = devices.fetch(self.r.eval_fn(state.params, self.r.val_N, state.rng))
    m = {k: float(v) for k, v in fetched.items()}
    self.log.write({"kind": "eval", "step": step, **m})
    self.evals.append(m["val_loss"])
    if math.isfinite(m["val_loss"]):
      self.ckpts.save_best(step, state, self._meta(step, m["val_loss"]), m["val_loss"])
    self.log.restart_clock()

  def sample(self, state, step: int) -> None:
    self.flush(step)
    key = jax.random.fold_in(rng.stream(rng.root(self.cfg.seed), "samples"), step)
    ids = self.generator.generate(state.params, self.r.tok.encode(self.r.prompt),
                                  self.cfg.num_samples, self.cfg.sample_tokens, key)  # fmt: skip
    self.samples = [self.r.tok.decode(row) for row in ids]
    self.log.write({"kind": "sample", "step": step, "prompt": self.r.prompt,
                    "samples": self.samples})  # fmt: skip
    for i, s in enumerate(self.samples):
      self.bar.write(f"--- sample {i + 1} at step {step}\n{s}")
    self.log.restart_clock()

  def save(self, state, step: int) -> None:
    """A checkpoint in last/ (and in best/ by training loss when no text is held out)."""
    self.flush(step)
    if self.ckpts.last_step() == step:  # e.g. Ctrl-C right after a scheduled checkpoint
      return
    loss = self.log.take_window_loss()
    self.ckpts.save(step, state, self._meta(step, loss))
    if self.r.val_N is None:
      self.ckpts.save_best(step, state, self._meta(step, loss), loss)
    self.log.restart_clock()

  def finish(self, state, step: int) -> dict:
    """The end: last metrics and checkpoint first (a failure after training never loses the
    trained state), then evaluation, samples and summary.json."""
    self.flush(step)
    if step % self.r.spe:
      self.log.end_epoch(step)
    train_wall = time.perf_counter() - self.t_start
    self.save(state, step)
    self.evaluate(state, step)
    if self.cfg.generate_every:
      self.sample(state, step)
    summary = {
      "steps": step, "steps_per_epoch": self.r.spe, "epochs": step / self.r.spe,
      "final_loss": self.log.last_loss, "val_loss": self.evals[-1] if self.evals else None,
      "best_val_loss": min(self.evals) if self.evals else None,
      "tokens_per_s_median": float(np.median(self.log.rates)) if self.log.rates else math.nan,
      "train_wall_s": train_wall, "first_step_s": self.first_step_s,
      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
      "device": devices.describe(), "params": num_params(state.params),
      "model": dataclasses.asdict(self.r.model_cfg), "samples": self.samples,
    }  # fmt: skip
    files = {"summary.json": (json.dumps(summary, indent=2) + "\n").encode()}
    rundir.write_outputs(self.ckpts.out, files, self.say)
    return summary

"""Training: jitted, donated steps that draw their own batches on the devices; Python only
drives evaluation, samples, checkpoints (rundir.py) and the log (metrics.py).

The steps between two fetches of the metrics (--log-every) run as one device call, a
`lax.scan` over `train_step` (the same numbers as one call per step, bit for bit): the host
dispatches once per window, and XLA allocates a step's temporaries once per call instead of
once per step, which on a CPU is most of the difference between a small model's step and its
arithmetic (docs/performance.md). A stop request (Ctrl-C, SIGTERM) is honoured between calls.

Randomness comes from named streams of the run's key (core/rng.py): the step-th batch and
dropout mask from fold_in("batches"/"dropout", step), so a run resumed from a checkpoint
(parameters, optimizer state, step, key) continues with exactly the losses of an uninterrupted
run. Data parallel: parameters are replicated over every device of every process and each
batch is split along the mesh's one axis.
"""

import dataclasses
import functools
import math
import resource
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from hw2_jax.core import checkpoint, devices, interrupt, io, memory, rng, rundir
from hw2_jax.core.errors import ConfigError, Interrupted, RunError
from hw2_jax.gpt import data as data_lib
from hw2_jax.gpt.config import DEFAULT_PROMPT, Config, ModelConfig, to_dict
from hw2_jax.gpt.generate import get_generator
from hw2_jax.gpt.metrics import MetricsLog, NonFinite
from hw2_jax.gpt.model import GPT, init_params, num_params
from hw2_jax.gpt.optimizer import from_config, schedule_from_config
from hw2_jax.gpt.rundir import RunDir
from hw2_jax.gpt.tokenizer import CharTokenizer


class TrainState(NamedTuple):
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array  # the run's key as raw key data (checkpointable)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def create_state(model_cfg: ModelConfig, tx, seed: int) -> TrainState:
  root = rng.root(seed)
  params = init_params(model_cfg, rng.stream(root, "init"))
  return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.key_data(root))


def _loss_and_acc(logits_BxTxV, y_BxT):
  loss = optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, y_BxT).mean()
  return loss, jnp.mean(jnp.argmax(logits_BxTxV, -1) == y_BxT)


def train_step(
  state: TrainState,
  data_N,
  *,
  model,
  tx,
  lr_fn,
  batch_size: int,
  block_size: int,
  batch_sharding=None,
):
  """One AdamW step on the step-th batch; returns (state, metrics)."""
  root = jax.random.wrap_key_data(state.rng)
  data_key = jax.random.fold_in(rng.stream(root, "batches"), state.step)
  dropout_key = jax.random.fold_in(rng.stream(root, "dropout"), state.step)
  x_BxT, y_BxT = data_lib.sample_batch(data_key, data_N, batch_size, block_size)
  if batch_sharding is not None:
    x_BxT = jax.lax.with_sharding_constraint(x_BxT, batch_sharding)
    y_BxT = jax.lax.with_sharding_constraint(y_BxT, batch_sharding)

  def loss_fn(params):
    logits_BxTxV = model.apply({"params": params}, x_BxT, train=True, rngs={"dropout": dropout_key})
    return _loss_and_acc(logits_BxTxV, y_BxT)

  (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = state._replace(
    step=state.step + 1, opt_state=opt_state, params=optax.apply_updates(state.params, updates)
  )
  metrics = {"loss": loss, "acc": acc, "grad_norm": optax.tree.norm(grads), "lr": lr_fn(state.step)}
  return new_state, metrics


def eval_step(
  params,
  data_N,
  rng_data,
  *,
  model,
  num_batches: int,
  batch_size: int,
  block_size: int,
  batch_sharding=None,
):
  """Mean loss and next-character accuracy over the run's fixed validation batches."""
  key = rng.stream(jax.random.wrap_key_data(rng_data), "eval")
  x_KxBxT, y_KxBxT = data_lib.eval_batches(key, data_N, num_batches, batch_size, block_size)

  def one(xy):
    x_BxT, y_BxT = xy
    if batch_sharding is not None:
      x_BxT = jax.lax.with_sharding_constraint(x_BxT, batch_sharding)
    return _loss_and_acc(model.apply({"params": params}, x_BxT), y_BxT)

  loss_K, acc_K = jax.lax.map(one, (x_KxBxT, y_KxBxT))
  return {"val_loss": loss_K.mean(), "val_acc": acc_K.mean()}


def train_steps(state: TrainState, data_N, *, num_steps: int, **step_kwargs):
  """`num_steps` consecutive steps in one call; their metrics stacked along a leading axis."""
  return jax.lax.scan(
    lambda s, _: train_step(s, data_N, **step_kwargs), state, None, length=num_steps
  )


@functools.cache  # one compiled program per setting within a process
def make_train_step(
  model_cfg: ModelConfig, tx, lr_fn, batch_size: int, mesh, num_steps: int | None = None
):
  """The jitted step for `model_cfg` (batch split over `mesh`), state donated; with
  `num_steps`, that many steps per call (`train_steps`)."""
  kwargs = dict(
    model=GPT(model_cfg),
    tx=tx,
    lr_fn=lr_fn,
    batch_size=batch_size,
    block_size=model_cfg.block_size,
    batch_sharding=devices.leading_axis_sharding(mesh, batch_size),
  )
  if num_steps is None:
    return jax.jit(functools.partial(train_step, **kwargs), donate_argnums=0)
  return jax.jit(functools.partial(train_steps, num_steps=num_steps, **kwargs), donate_argnums=0)


@functools.cache
def make_eval_step(model_cfg: ModelConfig, num_batches: int, batch_size: int, mesh):
  return jax.jit(
    functools.partial(
      eval_step,
      model=GPT(model_cfg),
      num_batches=num_batches,
      batch_size=batch_size,
      block_size=model_cfg.block_size,
      batch_sharding=devices.leading_axis_sharding(mesh, batch_size),
    )
  )


def bytes_per_device(model_cfg: ModelConfig, batch_size: int, devices_count: int) -> float:
  """Parameters with Adam and gradients (16 bytes each), and the activations a step keeps
  for its backward pass (~16 widths and two attention rows per token and layer, in float32)."""
  d, t, layers = model_cfg.n_embd, model_cfg.block_size, model_cfg.n_layer
  params = layers * 12 * d * d + 2 * model_cfg.vocab_size * d
  tokens = -(-batch_size // devices_count) * t
  per_token = layers * (16 * d + 2 * model_cfg.n_head * t) + 3 * model_cfg.vocab_size
  return 16 * params + 4 * tokens * per_token


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
  log(
    f"gpt: the text lacks characters of the default sample prompt {DEFAULT_PROMPT!r}; "
    f"samples start from its first characters {prompt!r} instead"
  )
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


def _setup(cfg: Config, run: RunDir, log) -> _Run:
  text = data_lib.load_text(cfg.txt_file, cfg.cache_dir)
  tok = CharTokenizer.from_text(text)
  train_ids, val_ids = data_lib.split(tok.encode(text), cfg.val_fraction)
  spe = data_lib.steps_per_epoch(len(train_ids), cfg.block_size, cfg.train_batch_size)
  if spe < 1:
    raise ConfigError(
      f"the training text has {len(train_ids)} characters, too few for one "
      f"batch of {cfg.train_batch_size} windows of {cfg.block_size + 1}; pass a "
      "longer --txt-file or a smaller --train-batch-size/--block-size."
    )
  if cfg.val_fraction and len(val_ids) <= cfg.block_size:
    raise ConfigError(
      f"--val-fraction {cfg.val_fraction} holds out {len(val_ids)} characters, "
      f"fewer than one window of {cfg.block_size + 1}; raise it, or pass 0."
    )
  prompt = _sample_prompt(cfg, tok, text, log) if cfg.generate_every else ""
  mesh = devices.mesh()
  if cfg.train_batch_size % mesh.devices.size:
    raise ConfigError(
      f"--train-batch-size {cfg.train_batch_size} does not split over "
      f"{mesh.devices.size} devices; pass a multiple of {mesh.devices.size}."
    )
  model_cfg = cfg.model_config(tok.vocab_size, jax.default_backend())
  memory.check_fits(
    bytes_per_device(model_cfg, cfg.train_batch_size, mesh.devices.size),
    f"--train-batch-size {cfg.train_batch_size} with these model sizes",
    "lower --train-batch-size or --block-size, or use more devices",
  )
  total = (
    spe * cfg.num_epochs if cfg.max_steps is None else min(spe * cfg.num_epochs, cfg.max_steps)
  )
  digest = data_lib.text_digest(text)
  run.check_resume(tok.chars, digest, to_dict(model_cfg), total)
  tx = from_config(cfg, total)
  rep = devices.replicated(mesh)
  return _Run(
    model_cfg,
    tok,
    digest,
    devices.put(np.asarray(train_ids), rep),
    devices.put(np.asarray(val_ids), rep) if cfg.val_fraction else None,
    spe,
    total,
    prompt,
    tx,
    functools.partial(
      make_train_step, model_cfg, tx, schedule_from_config(cfg, total), cfg.train_batch_size, mesh
    ),
    make_eval_step(model_cfg, cfg.eval_iters, cfg.train_batch_size, mesh),
    mesh,
  )


def train_and_evaluate(cfg: Config, log=print) -> dict | None:
  """Trains `cfg`, writing logs, samples and checkpoints under cfg.out; returns a summary
  (None when a resumed run has nothing left to do)."""
  cfg.validate()
  with rundir.claim(cfg.out) as out:
    run = RunDir(out, cfg)
    r = _setup(cfg, run, log)
    state = devices.put(create_state(r.model_cfg, r.tx, cfg.seed), devices.replicated(r.mesh))
    if cfg.resume:
      state, _ = checkpoint.restore(run.last, state)
    start = int(devices.fetch(state.step))
    if start >= r.total_steps:
      log(
        f"nothing to do: {out} is at step {start} of {r.total_steps}; pass a larger "
        "--max-steps or --num-epochs to train further."
      )
      return None
    log(
      f"gpt: {num_params(state.params):,} parameters, {r.model_cfg.dtype} matmuls, "
      f"{'fused' if r.model_cfg.fused_attention else 'explicit'} attention, on "
      f"{devices.describe()}; {len(r.tok.chars)} characters in the vocabulary, "
      f"{r.spe} steps per epoch, steps {start} -> {r.total_steps}"
    )
    events = _Events(
      cfg,
      run,
      r,
      MetricsLog(out, r.spe, cfg.train_batch_size * cfg.block_size, start if cfg.resume else None),
    )
    with events:
      state, step = _train_loop(cfg, r, state, start, events)
      return events.finish(state, step)


def _next_stop(cfg: Config, step: int, total: int) -> int:
  """The next step at which something happens: a log window ends, an evaluation, samples, a
  checkpoint, or the end."""
  cadences = [
    c for c in (cfg.log_every, cfg.eval_every, cfg.generate_every, cfg.checkpoint_every) if c
  ]
  return min([total] + [(step // c + 1) * c for c in cadences])


def _train_loop(cfg: Config, r: _Run, state, start: int, events: "_Events"):
  """Steps from `start` to the end, one device call up to the next thing to do; the metrics
  are fetched every --log-every steps, and evaluation, samples and checkpoints come at their
  own cadences."""
  step = start
  with interrupt.stop_requests() as stop:
    while step < r.total_steps:
      n = _next_stop(cfg, step, r.total_steps) - step
      state, metrics = r.steps_fn(n)(state, r.train_N)
      step += n
      events.log.add(metrics)
      every = lambda cadence, step=step: cadence and step % cadence == 0 and step < r.total_steps
      if step == start + n:  # includes compiling: left out of tokens/s
        events.flush(step, timed=False)
      elif every(cfg.log_every):
        events.flush(step)
      if every(cfg.eval_every):
        events.evaluate(state, step)
      if every(cfg.generate_every):
        events.sample(state, step)
      if every(cfg.checkpoint_every):
        events.save(state, step)
      if stop.requested(sync=every(cfg.log_every)):
        events.save(state, step)
        raise Interrupted(
          f"interrupted ({stop.name}) at step {step}: saved "
          f"{events.run.last.directory}/{step}; continue with --resume."
        )
  return state, step


class _Events:
  """What happens between training steps: the log, evaluation, samples, checkpoints, and the
  summary at the end. Each flushes the pending metrics first (so a non-finite loss stops the
  run before anything is saved) and keeps its own time out of tokens/s."""

  def __init__(self, cfg: Config, run: RunDir, r: _Run, log: MetricsLog):
    self.cfg, self.run, self.r, self.log = cfg, run, r, log
    self.generator = get_generator(r.model_cfg)
    self.evals, self.samples = [], []
    self.first_step_s, self.t_start = math.nan, log.t_start  # one clock for elapsed_s and wall
    self.bar = tqdm(
      total=r.total_steps,
      unit="step",
      dynamic_ncols=True,
      disable=not (cfg.progress and devices.is_main_process()) or None,
    )

  def __enter__(self):
    return self

  def __exit__(self, kind, error, _):
    self.bar.close()
    self.log.close()
    if isinstance(error, NonFinite):
      last = self.run.last_step()
      kept = (
        f"the last good checkpoint is step {last} in {self.run.last.directory}"
        if last
        else "no checkpoint was written"
      )
      raise RunError(
        f"{error}; stopped without saving it ({kept}); lower --learning-rate or "
        "raise --warmup-steps and start again with --overwrite."
      ) from None

  def flush(self, step: int, timed: bool = True) -> None:
    self.log.flush(step, timed)
    if not timed:
      self.first_step_s = time.perf_counter() - self.t_start
    self.bar.update(step - self.bar.n)
    self.bar.set_postfix(epoch=f"{step / self.r.spe:.2f}", loss=f"{self.log.last_loss:.4f}")

  def _meta(self, step: int, loss: float) -> dict:
    r = self.r
    return self.run.meta(
      step,
      loss,
      model=to_dict(r.model_cfg),
      vocab=r.tok.chars,
      text_sha256=r.text_sha256,
      steps_per_epoch=r.spe,
      total_steps=r.total_steps,
      device=devices.describe(),
    )

  def evaluate(self, state, step: int) -> None:
    """Validation loss on the held-out text; the best checkpoint is chosen by it."""
    if self.r.val_N is None:
      return
    self.flush(step)
    m = {
      k: float(v)
      for k, v in devices.fetch(self.r.eval_fn(state.params, self.r.val_N, state.rng)).items()
    }
    self.log.write({"kind": "eval", "step": step, **m})
    self.evals.append(m["val_loss"])
    if math.isfinite(m["val_loss"]):
      self.run.save_best(step, state, self._meta(step, m["val_loss"]), m["val_loss"])
    self.log.restart_clock()

  def sample(self, state, step: int) -> None:
    self.flush(step)
    key = jax.random.fold_in(rng.stream(rng.root(self.cfg.seed), "samples"), step)
    ids = self.generator.generate(
      state.params,
      self.r.tok.encode(self.r.prompt),
      self.cfg.num_samples,
      self.cfg.sample_tokens,
      key,
    )
    self.samples = [self.r.tok.decode(row) for row in ids]
    self.log.write(
      {"kind": "sample", "step": step, "prompt": self.r.prompt, "samples": self.samples}
    )
    for s in self.samples:
      self.bar.write(f"[step {step}] {s!r}")
    self.log.restart_clock()

  def save(self, state, step: int) -> None:
    """A checkpoint in last/ (and in best/ by training loss when no text is held out)."""
    self.flush(step)
    if self.run.last_step() == step:  # e.g. Ctrl-C right after a scheduled checkpoint
      return
    loss = self.log.take_window_loss()
    self.run.save(step, state, self._meta(step, loss))
    if self.r.val_N is None:
      self.run.save_best(step, state, self._meta(step, loss), loss)
    self.log.restart_clock()

  def finish(self, state, step: int) -> dict:
    """The end of the run: last metrics, evaluation, checkpoint, samples and summary.json."""
    self.flush(step)
    if step % self.r.spe:
      self.log.end_epoch(step)
    train_wall = time.perf_counter() - self.t_start
    self.evaluate(state, step)
    self.save(state, step)
    if self.cfg.generate_every:
      self.sample(state, step)
    summary = {
      "steps": step,
      "steps_per_epoch": self.r.spe,
      "epochs": step / self.r.spe,
      "final_loss": self.log.last_loss,
      "val_loss": self.evals[-1] if self.evals else None,
      "best_val_loss": min(self.evals) if self.evals else None,
      "tokens_per_s_median": float(np.median(self.log.rates)) if self.log.rates else math.nan,
      "train_wall_s": train_wall,
      "first_step_s": self.first_step_s,
      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
      "device": devices.describe(),
      "params": num_params(state.params),
      "model": to_dict(self.r.model_cfg),
      "samples": self.samples,
    }
    if devices.is_main_process():
      io.write_json(self.run.out / "summary.json", summary)
    return summary


def restore_run(run_dir, which: str = "best", step: int | None = None):
  """(model config, parameters, tokenizer, meta) of a run directory's best or last checkpoint
  (or of checkpoint `step` of those)."""
  ckpt_dir = io.as_path(run_dir) / "checkpoints" / which
  if not ckpt_dir.is_dir() or not any(p.name.isdigit() for p in ckpt_dir.iterdir()):
    raise ConfigError(
      f"--checkpoint {str(run_dir)!r} has no {which} checkpoint; pass the "
      "--out directory of a gpt-train run."
    )
  mngr = checkpoint.manager(ckpt_dir, max_to_keep=None)
  if step is not None and step not in mngr.all_steps():
    raise ConfigError(f"--step {step}: {ckpt_dir} holds steps {list(mngr.all_steps())}.")
  meta = checkpoint.restore_meta(mngr, step)
  model_cfg = ModelConfig(**meta["model"])
  saved = Config(
    **{k: v for k, v in meta["config"].items() if k in {f.name for f in dataclasses.fields(Config)}}
  )
  state, _ = checkpoint.restore(
    mngr, create_state(model_cfg, from_config(saved, meta.get("total_steps", 1)), 0), step
  )
  return model_cfg, state.params, CharTokenizer(meta["vocab"]), meta

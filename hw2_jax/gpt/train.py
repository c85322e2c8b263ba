"""Training: one jitted, donated step that draws its own batch on the devices; Python only
drives evaluation, samples, checkpoints (rundir.py) and the log (metrics.py).

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
from hw2_jax.gpt.optimizer import from_config, learning_rate_schedule
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


def train_step(state: TrainState, data_N, *, model, tx, lr_fn, batch_size: int,
               block_size: int, batch_sharding=None):
  """One AdamW step on the step-th batch; returns (state, metrics)."""
  root = jax.random.wrap_key_data(state.rng)
  data_key = jax.random.fold_in(rng.stream(root, "batches"), state.step)
  dropout_key = jax.random.fold_in(rng.stream(root, "dropout"), state.step)
  x_BxT, y_BxT = data_lib.sample_batch(data_key, data_N, batch_size, block_size)
  if batch_sharding is not None:
    x_BxT = jax.lax.with_sharding_constraint(x_BxT, batch_sharding)
    y_BxT = jax.lax.with_sharding_constraint(y_BxT, batch_sharding)

  def loss_fn(params):
    logits_BxTxV = model.apply({"params": params}, x_BxT, train=True,
                               rngs={"dropout": dropout_key})
    return _loss_and_acc(logits_BxTxV, y_BxT)

  (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = state._replace(step=state.step + 1, opt_state=opt_state,
                             params=optax.apply_updates(state.params, updates))
  metrics = {"loss": loss, "acc": acc, "grad_norm": optax.tree.norm(grads),
             "lr": lr_fn(state.step)}
  return new_state, metrics


def eval_step(params, data_N, rng_data, *, model, num_batches: int, batch_size: int,
              block_size: int, batch_sharding=None):
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


@functools.cache  # one compiled step per setting within a process
def make_train_step(model_cfg: ModelConfig, tx, lr_fn, batch_size: int, mesh):
  """The jitted step for `model_cfg` (batch split over `mesh`), state donated."""
  return jax.jit(functools.partial(
      train_step, model=GPT(model_cfg), tx=tx, lr_fn=lr_fn, batch_size=batch_size,
      block_size=model_cfg.block_size,
      batch_sharding=devices.leading_axis_sharding(mesh, batch_size)), donate_argnums=0)


@functools.cache
def make_eval_step(model_cfg: ModelConfig, num_batches: int, batch_size: int, mesh):
  return jax.jit(functools.partial(
      eval_step, model=GPT(model_cfg), num_batches=num_batches, batch_size=batch_size,
      block_size=model_cfg.block_size,
      batch_sharding=devices.leading_axis_sharding(mesh, batch_size)))


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
  prompt = text[:len(DEFAULT_PROMPT)]
  log(f"gpt: the text lacks characters of the default sample prompt {DEFAULT_PROMPT!r}; "
      f"samples start from its first characters {prompt!r} instead")
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
  step_fn: Any
  eval_fn: Any
  mesh: Any


def _setup(cfg: Config, run: RunDir, log) -> _Run:
  text = data_lib.load_text(cfg.txt_file, cfg.cache_dir)
  tok = CharTokenizer.from_text(text)
  train_ids, val_ids = data_lib.split(tok.encode(text), cfg.val_fraction)
  spe = data_lib.steps_per_epoch(len(train_ids), cfg.block_size, cfg.train_batch_size)
  if spe < 1:
    raise ConfigError(f"the training text has {len(train_ids)} characters, too few for one "
                      f"batch of {cfg.train_batch_size} windows of {cfg.block_size + 1}; pass a "
                      "longer --txt-file or a smaller --train-batch-size/--block-size.")
  if cfg.val_fraction and len(val_ids) <= cfg.block_size:
    raise ConfigError(f"--val-fraction {cfg.val_fraction} holds out {len(val_ids)} characters, "
                      f"fewer than one window of {cfg.block_size + 1}; raise it, or pass 0.")
  prompt = _sample_prompt(cfg, tok, text, log) if cfg.generate_every else ""
  mesh = devices.mesh()
  if cfg.train_batch_size % mesh.devices.size:
    raise ConfigError(f"--train-batch-size {cfg.train_batch_size} does not split over "
                      f"{mesh.devices.size} devices; pass a multiple of {mesh.devices.size}.")
  model_cfg = cfg.model_config(tok.vocab_size, jax.default_backend())
  memory.check_fits(bytes_per_device(model_cfg, cfg.train_batch_size, mesh.devices.size),
                    f"--train-batch-size {cfg.train_batch_size} with these model sizes",
                    "lower --train-batch-size or --block-size, or use more devices")
  total = spe * cfg.num_epochs if cfg.max_steps is None else min(spe * cfg.num_epochs,
                                                                  cfg.max_steps)
  digest = data_lib.text_digest(text)
  run.check_resume(tok.chars, digest, to_dict(model_cfg), total)
  tx = from_config(cfg, total)
  lr_fn = learning_rate_schedule(cfg.lr_schedule, cfg.learning_rate,
                                 total if cfg.lr_schedule != "constant" else 1,
                                 cfg.warmup_steps, cfg.min_learning_rate)
  rep = devices.replicated(mesh)
  return _Run(model_cfg, tok, digest, devices.put(np.asarray(train_ids), rep),
              devices.put(np.asarray(val_ids), rep) if cfg.val_fraction else None, spe, total,
              prompt, make_train_step(model_cfg, tx, lr_fn, cfg.train_batch_size, mesh),
              make_eval_step(model_cfg, cfg.eval_iters, cfg.train_batch_size, mesh), mesh)


def train_and_evaluate(cfg: Config, log=print) -> dict | None:
  """Trains `cfg`, writing logs, samples and checkpoints under cfg.out; returns a summary
  (None when a resumed run has nothing left to do)."""
  cfg.validate()
  with rundir.claim(cfg.out) as out:
    run = RunDir(out, cfg)
    r = _setup(cfg, run, log)
    tx = from_config(cfg, r.total_steps)
    state = devices.put(create_state(r.model_cfg, tx, cfg.seed), devices.replicated(r.mesh))
    if cfg.resume:
      state, _ = checkpoint.restore(run.last, state)
    start = int(devices.fetch(state.step))
    if start >= r.total_steps:
      log(f"nothing to do: {out} is at step {start} of {r.total_steps}; pass a larger "
          "--max-steps or --num-epochs to train further.")
      return None
    log(f"gpt: {num_params(state.params):,} parameters, {r.model_cfg.dtype} matmuls, "
        f"{'fused' if r.model_cfg.fused_attention else 'explicit'} attention, on "
        f"{devices.describe()}; {len(r.tok.chars)} characters in the vocabulary, "
        f"{r.spe} steps per epoch, steps {start} -> {r.total_steps}")
    return _loop(cfg, run, r, state, start, out, log)


def _loop(cfg: Config, run: RunDir, r: _Run, state, start: int, out, log) -> dict:
  log_ = MetricsLog(out, r.spe, cfg.train_batch_size * cfg.block_size,
                    start if cfg.resume else None)
  generator = get_generator(r.model_cfg)
  meta = lambda step, loss: run.meta(step, loss, model=to_dict(r.model_cfg), vocab=r.tok.chars,
                                     text_sha256=r.text_sha256, steps_per_epoch=r.spe,
                                     total_steps=r.total_steps, device=devices.describe())
  evals = []

  def evaluate(step):
    if r.val_N is None:
      return
    m = {k: float(v) for k, v in devices.fetch(r.eval_fn(state.params, r.val_N,
                                                         state.rng)).items()}
    log_.write({"kind": "eval", "step": step, **m})
    evals.append(m["val_loss"])
    if math.isfinite(m["val_loss"]):
      run.save_best(step, state, meta(step, m["val_loss"]), m["val_loss"])

  def save(step):
    loss = log_.take_window_loss()
    run.save(step, state, meta(step, loss))
    if r.val_N is None:
      run.save_best(step, state, meta(step, loss), loss)

  def sample(step):
    ids = generator.generate(state.params, r.tok.encode(r.prompt), cfg.num_samples,
                             cfg.sample_tokens, jax.random.fold_in(
                                 rng.stream(rng.root(cfg.seed), "samples"), step))
    samples = [r.tok.decode(row) for row in ids]
    log_.write({"kind": "sample", "step": step, "prompt": r.prompt, "samples": samples})
    return samples

  bar = tqdm(total=r.total_steps, initial=start, unit="step", dynamic_ncols=True,
             disable=not (cfg.progress and devices.is_main_process()) or None)
  step, first_step_s, t_wall = start, math.nan, time.perf_counter()
  try:
    with interrupt.stop_requests() as stop:
      while step < r.total_steps:
        state, metrics = r.step_fn(state, r.train_N)
        step += 1
        log_.add(metrics)
        due = lambda every: every and step % every == 0 and step < r.total_steps
        if step == start + 1:  # includes compiling: its own window, left out of tokens/s
          log_.flush(step, timed=False)
          first_step_s = time.perf_counter() - t_wall
        elif due(cfg.log_every) or step == r.total_steps:
          log_.flush(step)
        bar.update(step - bar.n)
        bar.set_postfix(epoch=f"{step / r.spe:.2f}", loss=f"{log_.last_loss:.4f}")
        if any(due(e) for e in (cfg.eval_every, cfg.generate_every, cfg.checkpoint_every)):
          log_.flush(step)
          if due(cfg.eval_every):
            evaluate(step)
          if due(cfg.generate_every):
            for s in sample(step):
              bar.write(f"[step {step}] {s!r}")
          if due(cfg.checkpoint_every):
            save(step)
          log_.restart_clock()
        if stop.requested(sync=due(cfg.log_every)):
          log_.flush(step)
          save(step)
          raise Interrupted(f"interrupted ({stop.name}) at step {step}: saved "
                            f"{run.last.directory}/{step}; continue with --resume.")
  except NonFinite as e:
    last = run.last_step()
    kept = (f"the last good checkpoint is step {last} in {run.last.directory}" if last
            else "no checkpoint was written")
    raise RunError(f"{e}; stopped without saving it ({kept}); lower --learning-rate or "
                   "raise --warmup-steps and start again with --overwrite.") from None
  finally:
    bar.close()
    log_.close()
  log_.flush(step)
  if step % r.spe:
    log_.end_epoch(step)
  train_wall = time.perf_counter() - t_wall
  evaluate(step)
  save(step)
  samples = sample(step) if cfg.generate_every else []
  summary = {"steps": step, "steps_per_epoch": r.spe, "epochs": step / r.spe,
             "final_loss": log_.last_loss, "final_window_loss": log_.take_window_loss(),
             "val_loss": evals[-1] if evals else None,
             "best_val_loss": min(evals) if evals else None,
             "tokens_per_s_median": float(np.median(log_.rates)) if log_.rates else math.nan,
             "train_wall_s": train_wall, "first_step_s": first_step_s,
             "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
             "device": devices.describe(), "params": num_params(state.params),
             "model": to_dict(r.model_cfg), "samples": samples}
  if devices.is_main_process():
    io.write_json(out / "summary.json", summary)
  return summary


def restore_run(run_dir, which: str = "best", step: int | None = None):
  """(model config, parameters, tokenizer, meta) of a run directory's best or last checkpoint
  (or of checkpoint `step` of those)."""
  ckpt_dir = io.as_path(run_dir) / "checkpoints" / which
  if not ckpt_dir.is_dir() or not any(p.name.isdigit() for p in ckpt_dir.iterdir()):
    raise ConfigError(f"--checkpoint {str(run_dir)!r} has no {which} checkpoint; pass the "
                      "--out directory of a gpt-train run.")
  mngr = checkpoint.manager(ckpt_dir, max_to_keep=None)
  if step is not None and step not in mngr.all_steps():
    raise ConfigError(f"--step {step}: {ckpt_dir} holds steps {list(mngr.all_steps())}.")
  meta = checkpoint.restore_meta(mngr, step)
  model_cfg = ModelConfig(**meta["model"])
  saved = Config(**{k: v for k, v in meta["config"].items()
                    if k in {f.name for f in dataclasses.fields(Config)}})
  state, _ = checkpoint.restore(
      mngr, create_state(model_cfg, from_config(saved, meta.get("total_steps", 1)), 0), step)
  return model_cfg, state.params, CharTokenizer(meta["vocab"]), meta

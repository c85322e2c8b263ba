"""Training: one jitted, donated step that draws its own batch on device; Python only
drives logging (JSON lines + TensorBoard), samples, checkpoints and the progress bar.

The batch and dropout keys are fold_in(rng, step), so a run resumed from a
checkpoint (parameters, optimizer state, step, rng) continues with exactly the
losses of an uninterrupted run. Data parallel: parameters are replicated over
every local device and the batch is split along the mesh's one axis.
"""

import functools
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from hw2_jax.core import checkpoint, devices
from hw2_jax.core.errors import ConfigError
from hw2_jax.core.io import ensure_writable_dir, write_json
from hw2_jax.gpt.config import ModelConfig, TrainConfig, to_dict
from hw2_jax.gpt.data import load_text, sample_batch, steps_per_epoch
from hw2_jax.gpt.generate import get_generator
from hw2_jax.gpt.model import GPT, init_params, num_params
from hw2_jax.gpt.optimizer import make_optimizer
from hw2_jax.gpt.tokenizer import CharTokenizer

METRICS_FILE = "metrics.jsonl"


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def create_state(model_cfg: ModelConfig, tx, seed: int):
  """The whole training state as a plain pytree."""
  params = init_params(model_cfg, jax.random.PRNGKey(seed))
  return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params),
          "rng": jax.random.PRNGKey(seed + 1)}


def train_step(state, data_N, *, model, tx, batch_size: int, block_size: int,
               batch_sharding=None):
  """One AdamW step on a batch drawn from fold_in(rng, step); returns (state, metrics)."""
  data_key, dropout_key = jax.random.split(jax.random.fold_in(state["rng"], state["step"]))
  x_BxT, y_BxT = sample_batch(data_key, data_N, batch_size, block_size)
  if batch_sharding is not None:
    x_BxT = jax.lax.with_sharding_constraint(x_BxT, batch_sharding)
    y_BxT = jax.lax.with_sharding_constraint(y_BxT, batch_sharding)

  def loss_fn(params):
    logits_BxTxV = model.apply({"params": params}, x_BxT, train=True,
                               rngs={"dropout": dropout_key})
    loss = optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, y_BxT).mean()
    return loss, logits_BxTxV

  (loss, logits_BxTxV), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  new_state = {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
               "opt_state": opt_state, "rng": state["rng"]}
  metrics = {"loss": loss, "acc": jnp.mean(jnp.argmax(logits_BxTxV, -1) == y_BxT),
             "grad_norm": optax.tree.norm(grads)}
  return new_state, metrics


@functools.cache  # one compiled step per setting within a process
def make_train_step(model_cfg: ModelConfig, tx, batch_size: int, mesh=None):
  """The jitted step for `model_cfg` (batch split over `mesh` when given), state donated."""
  sharding = None if mesh is None else devices.leading_axis_sharding(mesh, batch_size)
  return jax.jit(functools.partial(
      train_step, model=GPT(model_cfg), tx=tx, batch_size=batch_size,
      block_size=model_cfg.block_size, batch_sharding=sharding), donate_argnums=0)


class _Log:
  """metrics.jsonl (one JSON object per line) and TensorBoard events in the run directory."""

  def __init__(self, out: Path, keep_until_step: int | None):
    self.path = out / METRICS_FILE
    self.records = []
    if keep_until_step is not None and self.path.exists():  # resuming: drop what's after
      # (a partial-epoch record only marks where the interrupted run stopped)
      self.records = [r for r in map(json.loads, self.path.read_text().splitlines())
                      if r["step"] <= keep_until_step and r.get("complete", True)]
    self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
    from tensorboardX import SummaryWriter
    self.tb = SummaryWriter(str(out / "tb"), purge_step=keep_until_step)

  def write(self, record: dict) -> None:
    self.records.append(record)
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    kind, step = record["kind"], record["step"]
    for k, v in record.items():
      if isinstance(v, float) and k not in ("epoch",):
        self.tb.add_scalar(f"{kind}/{k}", v, step)
    if kind == "sample":
      self.tb.add_text("samples", "\n\n---\n\n".join(record["samples"]), step)

  def close(self):
    self.tb.close()


def _check_out_dir(out: Path, resume: bool):
  """The run directory: refuses to overwrite a run, or to resume none."""
  ckpt_dir = out / "checkpoints" / "last"
  has_run = ckpt_dir.exists() and any(p.name.isdigit() for p in ckpt_dir.iterdir())
  if resume and not has_run:
    raise ConfigError(f"--resume: no checkpoint in {str(out)!r}; drop --resume to start a "
                      "new run there.")
  if not resume and has_run:
    raise ConfigError(f"--out {str(out)!r} already holds a run; pass --resume to continue "
                      "it or choose another --out.")


def train_and_evaluate(cfg: TrainConfig) -> dict:
  """Trains `cfg`, writing logs, samples and checkpoints under cfg.out; returns a summary."""
  cfg.validate()
  out = ensure_writable_dir(cfg.out)
  _check_out_dir(out, cfg.resume)
  last_mngr = checkpoint.manager(out / "checkpoints" / "last", max_to_keep=cfg.keep_checkpoints)
  best_mngr = checkpoint.manager(out / "checkpoints" / "best", max_to_keep=1)
  meta0 = checkpoint.restore_meta(last_mngr) if cfg.resume else None

  text = load_text(cfg.txt_file, cfg.cache_dir)
  tok = CharTokenizer.from_text(text)
  if meta0 is not None and meta0["vocab"] != tok.chars:
    raise ConfigError("--resume: the text's vocabulary differs from the checkpoint's; "
                      "pass the --txt-file the run was started with.")
  spe = steps_per_epoch(len(text), cfg.block_size, cfg.train_batch_size)
  if spe < 1:
    raise ConfigError(f"the text has {len(text)} characters, too few for one batch of "
                      f"{cfg.train_batch_size} windows of {cfg.block_size + 1}; pass a longer "
                      "--txt-file or a smaller --train-batch-size/--block-size.")
  try:
    prompt_T = tok.encode(cfg.sample_prompt) if cfg.generate_every else None
  except ConfigError as e:
    raise ConfigError(f"--sample-prompt: {e} (or pass --generate-every 0)") from None
  mesh = devices.local_mesh()
  n_dev = mesh.devices.size
  if cfg.train_batch_size % n_dev:
    raise ConfigError(f"--train-batch-size {cfg.train_batch_size} does not split over "
                      f"{n_dev} devices; pass a multiple of {n_dev}.")
  model_cfg = cfg.model_config(tok.vocab_size, jax.default_backend())
  if meta0 is not None and meta0["model"] != to_dict(model_cfg):
    raise ConfigError("--resume: the model flags differ from the checkpoint's "
                      f"({meta0['model']}); pass the flags the run was started with.")
  total_steps = spe * cfg.num_epochs
  if cfg.max_steps is not None:
    total_steps = min(total_steps, cfg.max_steps)

  tx = make_optimizer(cfg.learning_rate, cfg.weight_decay, cfg.beta1, cfg.beta2,
                      cfg.clip_grad_norm)
  replicated = devices.replicated(mesh)
  state = jax.device_put(create_state(model_cfg, tx, cfg.seed), replicated)
  best_loss = math.inf
  if cfg.resume:
    state, _ = checkpoint.restore(last_mngr, state)
    if best_mngr.latest_step() is not None:
      best_loss = checkpoint.restore_meta(best_mngr)["loss"]
  data_N = jax.device_put(jnp.asarray(tok.encode(text)), replicated)
  step_fn = make_train_step(model_cfg, tx, cfg.train_batch_size, mesh)
  generator = get_generator(model_cfg)

  start = int(state["step"])
  log = _Log(out, start if cfg.resume else None)
  epoch_recs = [r for r in log.records if r["kind"] == "step" and r["step"] > start // spe * spe]
  epoch_sums = [sum(r["loss"] for r in epoch_recs), sum(r["acc"] for r in epoch_recs),
                len(epoch_recs)]
  tokens_per_step = cfg.train_batch_size * cfg.block_size
  meta = lambda step, loss: {"config": to_dict(cfg), "model": to_dict(model_cfg),
                             "vocab": tok.chars, "step": step, "loss": loss,
                             "steps_per_epoch": spe, "device": devices.describe()}
  print(f"gpt: {num_params(state['params']):,} parameters, {model_cfg.dtype}, "
        f"{'fused' if model_cfg.fused_attention else 'explicit'} attention, on "
        f"{devices.describe()}; {len(text):,} characters, vocabulary {tok.vocab_size}, "
        f"{spe} steps per epoch, steps {start} -> {total_steps}", flush=True)

  def sample(step):
    ids = generator.generate(state["params"], prompt_T, cfg.num_samples, cfg.sample_tokens,
                             jax.random.PRNGKey(cfg.seed + step), top_k=None)
    samples = [tok.decode(row) for row in ids]
    log.write({"kind": "sample", "step": step, "prompt": cfg.sample_prompt, "samples": samples})
    return samples

  def save(step, loss):
    nonlocal best_loss
    checkpoint.save(last_mngr, step, state, meta(step, loss))
    if loss < best_loss:
      best_loss = loss
      checkpoint.save(best_mngr, step, state, meta(step, loss))

  pending, window_losses, rates = [], [], []
  t_wall = time.perf_counter()
  t_window = time.perf_counter()
  last_loss = math.nan
  bar = tqdm(total=total_steps, initial=start, disable=None if cfg.progress else True,
             unit="step", dynamic_ncols=True)

  def flush(step):
    nonlocal t_window, last_loss
    if not pending:
      return
    jax.block_until_ready(pending[-1])
    dt = time.perf_counter() - t_window
    rate = len(pending) * tokens_per_step / dt
    rates.append(rate)
    for i, m in enumerate(jax.device_get(pending)):
      s = step - len(pending) + i + 1
      rec = {"kind": "step", "step": s, "epoch": s / spe, "loss": float(m["loss"]),
             "acc": float(m["acc"]), "lr": cfg.learning_rate,
             "grad_norm": float(m["grad_norm"]), "tokens_per_s": rate,
             "elapsed_s": time.perf_counter() - t_wall}
      log.write(rec)
      window_losses.append(rec["loss"])
      epoch_sums[0] += rec["loss"]
      epoch_sums[1] += rec["acc"]
      epoch_sums[2] += 1
      if s % spe == 0 or s == total_steps:
        log.write({"kind": "epoch", "step": s, "epoch": s / spe, "complete": s % spe == 0,
                   "loss": epoch_sums[0] / epoch_sums[2], "acc": epoch_sums[1] / epoch_sums[2]})
        epoch_sums[:] = [0.0, 0.0, 0]
    last_loss = rec["loss"]
    bar.update(len(pending))
    bar.set_postfix(epoch=f"{step / spe:.2f}", loss=f"{last_loss:.4f}", tok_s=f"{rate:,.0f}")
    pending.clear()
    t_window = time.perf_counter()

  step = start
  first_step_s = math.nan
  t_first = time.perf_counter()
  try:
    while step < total_steps:
      state, metrics = step_fn(state, data_N)
      step += 1
      pending.append(metrics)
      if step == start + 1:  # includes compilation: its own window, left out of the median
        flush(step)
        rates.pop()
        first_step_s = time.perf_counter() - t_first
      elif step % cfg.log_every == 0 or step == total_steps:
        flush(step)
      if cfg.generate_every and step % cfg.generate_every == 0 and step < total_steps:
        flush(step)
        for s in sample(step):
          bar.write(f"[step {step}] {s!r}")
        t_window = time.perf_counter()
      if step % cfg.checkpoint_every == 0 and step < total_steps:
        flush(step)
        save(step, float(np.mean(window_losses)))
        window_losses.clear()
        t_window = time.perf_counter()
  except KeyboardInterrupt:
    bar.close()
    try:
      flush(step)
      save(step, float(np.mean(window_losses)) if window_losses else math.inf)
      print(f"interrupted at step {step}; checkpoint saved, continue with --resume", flush=True)
    except Exception:  # interrupted mid-step: the donated state may be gone
      print(f"interrupted; --resume continues from the last checkpoint "
            f"(step {last_mngr.latest_step()})", flush=True)
    log.close()
    raise
  flush(step)
  bar.close()
  final_loss = float(np.mean(window_losses)) if window_losses else math.nan
  if step > start or last_mngr.latest_step() != step:
    save(step, final_loss)
  wall = time.perf_counter() - t_wall
  samples = sample(step) if cfg.generate_every else []
  log.close()
  summary = {"steps": step, "steps_per_epoch": spe, "epochs": step / spe,
             "final_loss": last_loss, "final_window_loss": final_loss,
             "tokens_per_s_median": float(np.median(rates)) if rates else math.nan,
             "train_wall_s": wall, "first_step_s": first_step_s, "device": devices.describe(),
             "params": num_params(state["params"]), "model": to_dict(model_cfg),
             "samples": samples}
  write_json(out / "summary.json", summary)
  return summary


def restore_run(run_dir, which: str = "last"):
  """(model config, parameters, tokenizer, meta) of a run directory's last or best checkpoint."""
  ckpt_dir = Path(run_dir) / "checkpoints" / which
  if not ckpt_dir.is_dir() or not any(p.name.isdigit() for p in ckpt_dir.iterdir()):
    raise ConfigError(f"--checkpoint {str(run_dir)!r} has no {which} checkpoint; pass the "
                      "--out directory of a gpt-train run.")
  mngr = checkpoint.manager(ckpt_dir, max_to_keep=None)
  meta = checkpoint.restore_meta(mngr)
  model_cfg = ModelConfig(**meta["model"])
  c = meta["config"]
  tx = make_optimizer(c["learning_rate"], c["weight_decay"], c["beta1"], c["beta2"],
                      c["clip_grad_norm"])
  state, _ = checkpoint.restore(mngr, create_state(model_cfg, tx, 0))
  return model_cfg, state["params"], CharTokenizer(meta["vocab"]), meta

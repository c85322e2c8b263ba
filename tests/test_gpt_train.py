"""Training: learns a repeated text, resume == uninterrupted, the CLI end to end, errors,
and a data-parallel step on 2 devices equals the single-device step."""

import dataclasses
import importlib.util
import inspect
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hw2_jax.cli import main
from hw2_jax.core import checkpoint, devices, launch, memory
from hw2_jax.core.errors import ConfigError
from hw2_jax.gpt import optimizer as optimizer_lib
from hw2_jax.gpt import study as study_lib
from hw2_jax.gpt import train as train_lib
from hw2_jax.gpt.checkpoints import RunCheckpoints, newest_run, restore_run
from hw2_jax.gpt.config import DEFAULT_PROMPT, Config, ModelConfig
from hw2_jax.gpt.generate import Generator
from hw2_jax.gpt.optimizer import learning_rate_schedule, make_optimizer
from hw2_jax.gpt.study import train_and_evaluate
from hw2_jax.gpt.tokenizer import CharTokenizer
from hw2_jax.gpt.train import create_state, make_train_step

TINY = [
  "--model-type",
  "gpt-nano",
  "--n-layer",
  "2",
  "--n-head",
  "2",
  "--n-embd",
  "16",
  "--block-size",
  "16",
  "--train-batch-size",
  "8",
  "--no-progress",
]


WORDS = "the king said to a frog that yesterday I went into the wood with gold".split()


@pytest.fixture
def story(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "story.txt"
  path.write_text(" ".join(rng.choice(WORDS, 800)) + ".\n", encoding="utf-8")
  return path


@pytest.fixture
def short(tmp_path):
  """Every word once: a text of few windows, so epochs end within a few steps."""
  path = tmp_path / "short.txt"
  path.write_text(" ".join(WORDS) + ".\n", encoding="utf-8")
  return path


def _steps(run_dir):
  return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


# tensorboardX is this project's dependency, but a machine's own Python may lack it (the H200
# check's did): runs there write no tb/, and the TensorBoard checks are left out
TBX = importlib.util.find_spec("tensorboardX") is not None


def _tensorboard(run_dir):
  """Every event in RUN/tb, read from the TFRecord files (length, crc, event, crc)."""
  from tensorboardX.proto import event_pb2

  events = []
  for path in sorted((Path(run_dir) / "tb").glob("events.out.tfevents.*")):
    data, i = path.read_bytes(), 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i : i + 8])
      events.append(event_pb2.Event.FromString(data[i + 12 : i + 12 + n]))
      i += 12 + n + 4
  return events


def _scalars(events):
  return {
    (v.tag, e.step): v.simple_value
    for e in events
    for v in e.summary.value
    if v.HasField("simple_value")
  }


def test_tiny_model_learns_repeated_text(tmp_path):
  path = tmp_path / "abc.txt"
  path.write_text("abcdefghij" * 60)
  cfg = Config(
    out=str(tmp_path / "run"),
    txt_file=str(path),
    model_type="gpt-nano",
    n_layer=2,
    n_head=2,
    n_embd=32,
    block_size=16,
    train_batch_size=16,
    dropout=0.0,
    learning_rate=3e-3,
    max_steps=150,
    log_every=50,
    checkpoint_every=1000,
    generate_every=0,
    progress=False,
  )
  summary = train_and_evaluate(cfg)
  assert summary["final_loss"] < 0.05, summary["final_loss"]
  losses = [r["loss"] for r in _steps(cfg.out) if r["kind"] == "step"]
  assert losses[0] > 2.0 and len(losses) == 150
  accs = [r["acc"] for r in _steps(cfg.out) if r["kind"] == "step"]
  assert accs[0] < 0.5 and accs[-1] > 0.95, (accs[0], accs[-1])
  model_cfg, params, tok, meta = restore_run(cfg.out)
  assert meta["step"] == 150 and tok.chars == "abcdefghij"
  ids = Generator(model_cfg).generate(
    params, tok.encode("cde"), 1, 25, jax.random.key(0), greedy=True
  )
  assert tok.decode(ids[0]) == "cdefghijabcdefghijabcdefghij"


def test_cli_train_generate_plot_and_resume(story, tmp_path, capsys):
  full, part = tmp_path / "full", tmp_path / "part"
  common = TINY + [
    "--txt-file",
    str(story),
    "--log-every",
    "2",
    "--checkpoint-every",
    "3",
    "--generate-every",
    "4",
    "--sample-prompt",
    "the king ",
  ]
  main(["gpt-train", *common, "--out", str(full), "--max-steps", "8"])
  out = capsys.readouterr().out
  assert "done: 8 steps" in out and "curves_step.png" in out
  records = _steps(full)
  assert [r["step"] for r in records if r["kind"] == "step"] == list(range(1, 9))
  samples = [r for r in records if r["kind"] == "sample"]
  assert [r["step"] for r in samples] == [4, 8]
  assert all(s.startswith("the king ") and len(s) == 9 + 200 for s in samples[0]["samples"])
  (epoch,) = [r for r in records if r["kind"] == "epoch"]
  assert not epoch["complete"] and epoch["step"] == 8
  assert sorted(p.name for p in (full / "checkpoints" / "last").iterdir() if p.name.isdigit()) == [
    "6",
    "8",
  ]  # keep the last 2
  assert list((full / "checkpoints" / "best").iterdir())
  assert (full / "tb").is_dir() == TBX and (not TBX or list((full / "tb").iterdir()))
  for name in ("curves_step.png", "curves_epoch.png", "epoch_vs_step.png"):
    assert (full / "plots" / name).stat().st_size > 1000
  assert json.loads((full / "summary.json").read_text())["steps"] == 8

  sample_file = tmp_path / "samples.txt"
  main(
    [
      "gpt-generate",
      "--checkpoint",
      str(full),
      "--prompt",
      "the frog",
      "--num-samples",
      "2",
      "--max-new-tokens",
      "30",
      "--top-p",
      "0.9",
      "--out",
      str(sample_file),
    ]
  )
  text = sample_file.read_text()
  assert text.count("--- sample") == 2 and text.count("the frog") >= 2
  main(["gpt-plot", "--run", str(full), "--out", str(tmp_path / "figs")])
  assert (tmp_path / "figs" / "curves_epoch.png").is_file()

  # interrupted after 5 steps, resumed to 8: the same losses and parameters
  main(["gpt-train", *common, "--out", str(part), "--max-steps", "5", "--no-plots"])
  capsys.readouterr()
  main(["gpt-train", *common, "--out", str(part), "--max-steps", "8", "--resume", "--no-plots"])
  assert "steps 5 -> 8" in capsys.readouterr().out  # continued, not started over
  loss = lambda run: [(r["step"], r["loss"], r["acc"]) for r in _steps(run) if r["kind"] == "step"]
  assert loss(part) == loss(full)
  # the interrupted run's partial-epoch record (step 5) is dropped; the epoch record at 8
  # averages the steps of both sessions, as the uninterrupted run's does
  epochs = lambda run: [r for r in _steps(run) if r["kind"] == "epoch"]
  assert epochs(part) == epochs(full)
  if TBX:  # TensorBoard hides the first session's events from step 5 on
    assert [e.step for e in _tensorboard(part) if e.HasField("session_log")] == [5]
    assert [
      e.step for e in _tensorboard(full) for v in e.summary.value if v.tag.startswith("samples")
    ] == [4, 8]
  _, p_full, _, _ = restore_run(full)
  _, p_part, _, _ = restore_run(part)
  chex.assert_trees_all_equal(p_part, p_full)

  capsys.readouterr()
  for argv, message in [
    (["gpt-generate", "--checkpoint", str(full), "--prompt", "Zebra"], "'Z'"),
    (["gpt-generate", "--checkpoint", str(full), "--top-k", "5", "--top-p", "0.9"], "together"),
    (["gpt-generate", "--checkpoint", str(tmp_path / "none")], "no best checkpoint"),
    (["gpt-train", *common, "--out", str(full)], "--resume"),
    (["gpt-train", *common, "--out", str(tmp_path / "new"), "--resume"], "drop --resume"),
  ]:
    with pytest.raises(SystemExit) as e:
      main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


# The three tests below: the same text and settings, so they share one compiled step. A tiny
# learning rate: the loss stays near log(vocabulary), so the lowest is not the latest.
OPTIMIZER_FLAGS = [
  "--learning-rate",
  "1e-5",
  "--weight-decay",
  "0.3",
  "--beta1",
  "0.8",
  "--beta2",
  "0.9",
  "--clip-grad-norm",
  "0.5",
  "--val-fraction",
  "0",
]


def _saved_losses(run_dir, which):
  """{step: loss} of every checkpoint kept in RUN/checkpoints/<which>."""
  mngr = checkpoint.manager(Path(run_dir) / "checkpoints" / which, max_to_keep=None)
  return {step: checkpoint.restore_meta(mngr, step)["loss"] for step in mngr.all_steps()}


def test_best_checkpoint_holds_the_lowest_loss_and_resume_keeps_it(short, tmp_path):
  """No held-out text, a checkpoint every step (all kept): the best one is the step with the
  lowest training loss seen, not the latest; a resumed run restores that loss, so later, worse steps don't replace it."""
  run = tmp_path / "run"
  common = TINY + [
    "--txt-file",
    str(short),
    "--out",
    str(run),
    "--log-every",
    "1",
    "--checkpoint-every",
    "1",
    "--keep-checkpoints",
    "50",
    "--generate-every",
    "0",
    "--no-plots",
    *OPTIMIZER_FLAGS,
    "--seed",
    "4",
  ]  # best: step 8
  main(["gpt-train", *common, "--max-steps", "10"])
  first = _saved_losses(run, "last")
  assert sorted(first) == list(range(1, 11))
  # a checkpoint every step: each holds the loss of its step
  assert first == {r["step"]: r["loss"] for r in _steps(run) if r["kind"] == "step"}
  best_step = min(first, key=first.get)
  assert best_step != 10  # the test needs a best that is not the latest
  assert _saved_losses(run, "best") == {best_step: first[best_step]}
  _, _, _, meta = restore_run(run, "best")
  assert meta["step"] == best_step

  main(["gpt-train", *common, "--max-steps", "13", "--resume"])
  seen = _saved_losses(run, "last")
  assert sorted(seen) == list(range(1, 14))
  assert min(seen[s] for s in (11, 12, 13)) > first[best_step]  # later steps are worse
  assert _saved_losses(run, "best") == {best_step: first[best_step]}


def test_optimizer_flags_reach_the_optimizer(short, tmp_path, monkeypatch):
  calls = []
  real = optimizer_lib.make_optimizer
  monkeypatch.setattr(
    optimizer_lib,
    "make_optimizer",
    lambda *a, **k: calls.append(inspect.signature(real).bind(*a, **k)) or real(*a, **k),
  )
  main(
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(short),
      "--out",
      str(tmp_path / "run"),
      "--max-steps",
      "1",
      "--generate-every",
      "0",
      "--no-plots",
      *OPTIMIZER_FLAGS,
    ]
  )
  assert calls and calls[0].arguments == {
    "learning_rate": 1e-5,
    "weight_decay": 0.3,
    "b1": 0.8,
    "b2": 0.9,
    "clip_grad_norm": 0.5,
    "schedule": "constant",
    "total_steps": 1,
    "warmup_steps": 0,
    "min_learning_rate": 0.0,
  }


def test_epochs_metrics_summary_tensorboard_and_resume_at_an_epoch_end(short, tmp_path):
  """Two epochs of a short text (no --max-steps), metrics fetched every 2 steps: the step and
  epoch records, the summary and the TensorBoard scalars say what the steps did; a run of one
  epoch resumed for a second writes the same records."""
  run = tmp_path / "run"
  flags = [
    *TINY,
    "--txt-file",
    str(short),
    "--log-every",
    "2",
    "--checkpoint-every",
    "3",
    "--keep-checkpoints",
    "50",
    "--generate-every",
    "0",
    "--no-plots",
    *OPTIMIZER_FLAGS,
  ]
  t0 = time.perf_counter()
  main(["gpt-train", *flags, "--out", str(run), "--num-epochs", "2"])
  wall = time.perf_counter() - t0
  spe = (len(short.read_text()) - 16) // 8
  records = _steps(run)
  steps = [r for r in records if r["kind"] == "step"]
  assert [r["step"] for r in steps] == list(range(1, 2 * spe + 1))
  for r in steps:
    assert r["epoch"] == r["step"] / spe and r["lr"] == pytest.approx(1e-5, rel=1e-6)
    assert r["grad_norm"] > 0 and 0 <= r["acc"] <= 1
  assert all(a["elapsed_s"] < b["elapsed_s"] for a, b in zip(steps, steps[1:]))
  epochs = [r for r in records if r["kind"] == "epoch"]
  assert [(r["step"], r["epoch"], r["complete"]) for r in epochs] == [
    (spe, 1.0, True),
    (2 * spe, 2.0, True),
  ]
  for e, r in enumerate(epochs):
    part = steps[e * spe : (e + 1) * spe]
    assert r["loss"] == pytest.approx(np.mean([s["loss"] for s in part]), rel=1e-12)
    assert r["acc"] == pytest.approx(np.mean([s["acc"] for s in part]), rel=1e-12)

  summary = json.loads((run / "summary.json").read_text())
  assert (summary["steps"], summary["steps_per_epoch"], summary["epochs"]) == (2 * spe, spe, 2.0)
  assert summary["final_loss"] == steps[-1]["loss"]
  # Metrics are fetched in windows (one device call each) that end every 2 steps
  # (--log-every), at each checkpoint (every 3) and at the end; a window's steps share its
  # throughput, and the windows are disjoint parts of the run. The first window compiles.
  ends = [s for s in range(1, 2 * spe + 1) if s % 2 == 0 or s % 3 == 0 or s == 2 * spe]
  windows, start = [], 0
  for end in ends:
    windows.append(steps[start:end])
    start = end
  assert [r["step"] for w in windows for r in w] == list(range(1, 2 * spe + 1))
  assert all(len({r["tokens_per_s"] for r in w}) == 1 for w in windows)
  rates = [w[0]["tokens_per_s"] for w in windows]
  assert len(set(rates)) == len(rates)
  seconds = sum(len(w) * 8 * 16 / rate for w, rate in zip(windows, rates))
  assert 0 < seconds <= summary["train_wall_s"] <= wall
  assert 0 < summary["first_step_s"] < summary["train_wall_s"]
  assert steps[-1]["elapsed_s"] <= summary["train_wall_s"]
  assert summary["tokens_per_s_median"] == np.median(rates[1:])  # without the compiling step
  _, params, _, meta = restore_run(run)
  assert summary["params"] == sum(x.size for x in jax.tree.leaves(params))
  # the last checkpoint holds the mean loss since the one before (step 2 spe - 3)
  assert meta["step"] == 2 * spe
  assert meta["loss"] == pytest.approx(np.mean([s["loss"] for s in steps[-3:]]), rel=1e-12)
  # each checkpoint holds the mean loss of the steps since the one before
  loss = {r["step"]: r["loss"] for r in steps}
  want = {c: np.mean([loss[s] for s in range(c - 2, c + 1)]) for c in range(3, 2 * spe + 1, 3)}
  assert _saved_losses(run, "last") == pytest.approx(want, rel=1e-12)

  if TBX:
    scalars = _scalars(_tensorboard(run))
    want = {
      (f"{r['kind']}/{k}", r["step"]): v
      for r in records
      for k, v in r.items()
      if isinstance(v, float) and k != "epoch"
    }
    assert set(scalars) == set(want)
    for key, value in want.items():
      assert scalars[key] == pytest.approx(value, rel=1e-6), key

  part = tmp_path / "part"
  main(["gpt-train", *flags, "--out", str(part), "--num-epochs", "1"])
  main(["gpt-train", *flags, "--out", str(part), "--num-epochs", "2", "--resume"])
  same = lambda rs: [
    {k: v for k, v in r.items() if k not in ("tokens_per_s", "elapsed_s")} for r in rs
  ]
  assert same(_steps(part)) == same(records)
  # resuming a finished run trains nothing and writes nothing
  before = _saved_losses(part, "last"), (part / "summary.json").read_text()
  main(["gpt-train", *flags, "--out", str(part), "--num-epochs", "2", "--resume"])
  assert same(_steps(part)) == same(records)
  assert (_saved_losses(part, "last"), (part / "summary.json").read_text()) == before
  assert json.loads(before[1])["steps"] == 2 * spe


def test_train_step_trains_with_dropout_on_the_batch_of_its_step():
  """Step t trains on the batch drawn with fold_in(the run's "batches" stream, t) and runs the
  model in training mode with fold_in(the "dropout" stream, t) as the dropout key; the new
  parameters and optimizer state are the optimizer's update with that loss's gradients."""
  from hw2_jax.core import rng as rng_lib
  from hw2_jax.gpt.data import sample_batch
  from hw2_jax.gpt.model import GPT

  cfg = ModelConfig(vocab_size=11, n_layer=1, n_head=2, n_embd=16, block_size=8, dropout=0.5)
  tx = make_optimizer(1e-3, 0.1)
  data_N = jax.random.randint(jax.random.key(0), (200,), 0, 11)
  state = train_lib.create_state(cfg, tx, 0)._replace(step=jnp.int32(7))
  params, opt_state, raw = jax.tree.map(
    np.asarray, (state.params, state.opt_state, state.rng)
  )  # state is donated
  step = train_lib.make_train_step(
    cfg, tx, learning_rate_schedule("constant", 1e-3, 1), 4, devices.mesh()
  )
  new, metrics = step(state, data_N)
  assert int(new.step) == 8
  root = jax.random.wrap_key_data(raw)
  data_key = jax.random.fold_in(rng_lib.stream(root, "batches"), 7)
  dropout_key = jax.random.fold_in(rng_lib.stream(root, "dropout"), 7)
  x, y = sample_batch(data_key, data_N, 4, 8)
  loss = jax.jit(
    lambda train: optax.softmax_cross_entropy_with_integer_labels(
      GPT(cfg).apply({"params": params}, x, train=train, rngs={"dropout": dropout_key}), y
    ).mean(),
    static_argnums=0,
  )
  assert float(metrics["loss"]) == pytest.approx(float(loss(True)), rel=1e-5)
  assert abs(float(loss(True)) - float(loss(False))) > 1e-3  # dropout made a difference

  @jax.jit  # one program, not one per operation
  def reference_update(params, opt_state):
    grads = jax.grad(
      lambda p: optax.softmax_cross_entropy_with_integer_labels(
        GPT(cfg).apply({"params": p}, x, train=True, rngs={"dropout": dropout_key}), y
      ).mean()
    )(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  want_params, want_opt_state = reference_update(params, opt_state)
  chex.assert_trees_all_close(new.opt_state, want_opt_state, rtol=1e-5, atol=1e-7)
  chex.assert_trees_all_close(new.params, want_params, rtol=1e-5, atol=1e-7)


def test_a_text_of_exactly_one_batch_is_enough(story, tmp_path, monkeypatch):
  n = len(story.read_text())

  class Reached(Exception):
    pass

  def stop(*args, **kwargs):
    raise Reached

  monkeypatch.setattr(study_lib, "make_train_step", stop)
  with pytest.raises(Reached):  # one window more than block_size per sequence: 1 step
    main(
      [
        "gpt-train",
        *TINY,
        "--txt-file",
        str(story),
        "--out",
        str(tmp_path / "a"),
        "--train-batch-size",
        str(n - 16),
        "--generate-every",
        "0",
        "--val-fraction",
        "0",
      ]
    )
  with pytest.raises(SystemExit):
    main(
      [
        "gpt-train",
        *TINY,
        "--txt-file",
        str(story),
        "--out",
        str(tmp_path / "b"),
        "--train-batch-size",
        str(n - 15),
        "--generate-every",
        "0",
        "--val-fraction",
        "0",
      ]
    )


@pytest.mark.parametrize(
  "flags,message",
  [
    (["--model-type", "gpt-huge"], "gpt-micro"),
    (["--n-embd", "10", "--n-head", "3"], "divisible"),
    (["--txt-file", "/nonexistent/book.txt"], "--txt-file"),
    (["--dropout", "1.5"], "--dropout"),
    (["--max-steps", "0"], "--max-steps"),
    (["--precision", "fp8"], "--precision"),
    (["--n-layer", "0"], "--n-layer must be >= 1"),
    (["--n-embd", "6", "--n-head", "2"], "RoPE needs an even head dimension"),
    (["--learning-rate", "0"], "--learning-rate must be > 0"),
    (["--weight-decay", "-0.1"], "--weight-decay must be >= 0"),
    (["--clip-grad-norm", "0"], "--clip-grad-norm must be > 0"),
    (["--beta1", "1.0"], "--beta1 must be < 1.0"),
    (["--beta2", "-0.5"], "--beta2 must be >= 0.0"),
    (["--sample-prompt", ""], "--sample-prompt is empty"),
    (["--train-batch-size", "5000"], "too few for one batch"),
    (["--sample-prompt", "Zebra"], "--sample-prompt: "),
    (["--seed", "1e23"], "argument --seed: invalid int value: '1e23'"),
    (["--seed", str(2**70)], "--seed must be <= 2147483647"),
  ],
)
def test_train_rejects_bad_flags_before_work(flags, message, story, tmp_path, capsys):
  # A tiny model for one step (a case's own flags come later and win): a check that went
  # missing lets that step run, and the test fails in seconds, not after a whole training
  run = ["gpt-train", *TINY, "--txt-file", str(story), "--out", str(tmp_path / "run"),
         "--max-steps", "1", "--eval-iters", "1"]  # fmt: skip
  with pytest.raises(SystemExit) as e:
    main([*run, *flags])
  assert e.value.code == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / "run" / "metrics.jsonl").exists()


_DATA_PARALLEL = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh
    from hw2_jax.core import devices
    from hw2_jax.gpt.config import ModelConfig
    from hw2_jax.gpt.optimizer import learning_rate_schedule, make_optimizer
    from hw2_jax.gpt.train import create_state, make_train_step
    assert jax.device_count() == 2, jax.devices()
    cfg = ModelConfig(vocab_size=17, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.1)
    tx = make_optimizer(1e-2, 0.1)
    data = jax.random.randint(jax.random.key(0), (500,), 0, 17)
    out = {}
    for n in (1, 2):
      mesh = Mesh(np.array(jax.devices()[:n]), ("batch",))
      rep = devices.replicated(mesh)
      state = jax.device_put(create_state(cfg, tx, 0), rep)
      step = make_train_step(cfg, tx, learning_rate_schedule("constant", 1e-2, 1), 8, mesh)
      # each device draws the dropout masks of its own half of the batch: nothing gathered
      hlo = step.lower(state, jax.device_put(data, rep)).compile().as_text()
      assert "all-gather" not in hlo, n
      losses = []
      for _ in range(3):
        state, m = step(state, jax.device_put(data, rep))
        losses.append(float(m["loss"]))
      leaf = jax.tree.leaves(state.params)[0]
      assert len(leaf.sharding.device_set) == n and leaf.sharding.is_fully_replicated
      out[n] = (losses, jax.device_get(state.params))
    np.testing.assert_allclose(out[2][0], out[1][0], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), out[2][1], out[1][1])
    print("OK", out[2][0])
""")


def test_data_parallel_step_equals_single_device():
  env = launch.child_env(dict(os.environ), 2)  # 2 CPU devices, the tests' XLA flags kept
  r = subprocess.run(
    [sys.executable, "-c", _DATA_PARALLEL],
    env=env,
    capture_output=True,
    text=True,
    timeout=240,
    cwd=Path(__file__).parents[1],
  )
  assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr


def _train(story, out, *flags):
  main(
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(story),
      "--out",
      str(out),
      "--log-every",
      "2",
      "--generate-every",
      "0",
      "--no-plots",
      *flags,
    ]
  )


def _error(argv, capsys, status=2):
  """The one-line error of a command (after a stop's acknowledgement, for exit status 130)."""
  capsys.readouterr()
  with pytest.raises(SystemExit) as e:
    main(argv)
  err = capsys.readouterr().err
  if status == 130:
    ack, err = err.strip().split("\n", 1)
    assert ack.startswith("Ctrl-C: stopping after the current device call"), ack
    err += "\n"
  assert e.value.code == status and err.count("\n") == 1, err
  return err


def _files(out):
  return {p: p.read_bytes() for p in sorted(Path(out).rglob("*")) if p.is_file()}


def test_resume_refuses_other_deciding_settings_and_does_nothing_when_done(story, tmp_path, capsys):
  out = tmp_path / "run"
  _train(story, out, "--max-steps", "4", "--checkpoint-every", "2")
  before = _files(out)
  resume = [
    "gpt-train",
    *TINY,
    "--txt-file",
    str(story),
    "--out",
    str(out),
    "--resume",
    "--generate-every",
    "0",
    "--no-plots",
  ]
  for flags, message in [
    (["--train-batch-size", "4"], "--train-batch-size 8 there, 4 here"),
    (["--learning-rate", "1e-3"], "--learning-rate 0.0005 there, 0.001 here"),
    (["--seed", "1"], "--seed 0 there, 1 here"),
    (["--beta2", "0.99"], "--beta2 0.95 there, 0.99 here"),
    (["--val-fraction", "0.2"], "--val-fraction 0.1 there, 0.2 here"),
    (["--n-embd", "32"], "--n-embd 16 there, 32 here"),
    (["--dropout", "0.2"], "--dropout 0.1 there, 0.2 here"),
    (["--lr-schedule", "cosine"], "--lr-schedule constant there, cosine here"),
  ]:
    err = _error([*resume, "--max-steps", "6", *flags], capsys)
    assert message in err, err
  other = tmp_path / "other.txt"
  other.write_text(story.read_text().replace("king", "kong"))
  assert "the text differs" in _error(
    [*resume, "--max-steps", "6", "--txt-file", str(other)], capsys
  )
  # finished, or asked for fewer steps than done: nothing to do, nothing rewritten
  main([*resume, "--max-steps", "4"])
  main([*resume, "--max-steps", "3"])
  assert capsys.readouterr().out.count("nothing to do") == 2
  assert _files(out) == before
  # not resuming: refused; --overwrite starts again
  refused = _error(resume[:-4] + ["--max-steps", "2"], capsys)
  assert "holds a gpt-train run; pass --resume to continue it, --overwrite" in refused
  _train(story, out, "--max-steps", "2", "--overwrite")
  assert [r["step"] for r in _steps(out) if r["kind"] == "step"] == [1, 2]


def test_non_finite_loss_stops_with_the_last_good_checkpoint(story, tmp_path, capsys):
  out = tmp_path / "run"
  err = _error(
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(story),
      "--out",
      str(out),
      "--learning-rate",
      "1e6",
      "--max-steps",
      "40",
      "--log-every",
      "1",
      "--checkpoint-every",
      "1",
      "--generate-every",
      "0",
      "--no-plots",
    ],
    capsys,
    status=1,
  )
  step = int(err.split("non-finite at step ")[1].split(";")[0])
  saved = sorted(int(p.name) for p in (out / "checkpoints" / "last").iterdir() if p.name.isdigit())
  assert saved and max(saved) == step - 1, (saved, err)
  assert f"the last good checkpoint is step {step - 1}" in err
  _, params, _, _ = restore_run(out, "last")
  assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(params))


def test_damaged_checkpoint_and_torn_log_line(story, tmp_path, capsys):
  out = tmp_path / "run"
  _train(story, out, "--max-steps", "4", "--checkpoint-every", "2", "--keep-checkpoints", "3")
  log = out / "metrics.jsonl"
  log.write_text(log.read_text() + '{"kind": "step", "st')  # a writer killed mid-line
  main(["gpt-plot", "--run", str(out)])
  assert "torn last line" in capsys.readouterr().out
  for f in (out / "checkpoints" / "last" / "4").rglob("*"):
    if f.is_file() and f.suffix != ".json":
      f.write_bytes(b"garbage")
  for argv in (
    ["gpt-generate", "--checkpoint", str(out), "--which", "last"],
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(story),
      "--out",
      str(out),
      "--resume",
      "--max-steps",
      "6",
      "--generate-every",
      "0",
    ],
  ):
    err = _error(argv, capsys, status=1)
    assert "last/4 is damaged" in err and "fall back to step 2" in err, err
  shutil.rmtree(out / "checkpoints" / "last" / "4")  # as the message says
  _train(story, out, "--max-steps", "6", "--resume")
  assert [r["step"] for r in _steps(out) if r["kind"] == "step"] == list(range(1, 7))


def test_sigterm_saves_and_stops_and_resume_continues_exactly(story, tmp_path):
  common = [
    sys.executable,
    "-m",
    "hw2_jax",
    "gpt-train",
    *TINY,
    "--txt-file",
    str(story),
    "--log-every",
    "1",
    "--generate-every",
    "0",
    "--no-plots",
    "--checkpoint-every",
    "1000",
  ]
  out = tmp_path / "run"
  env = dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1")
  proc = subprocess.Popen(
    [*common, "--out", str(out), "--max-steps", "100000"],
    env=env,
    cwd=Path(__file__).parents[1],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  deadline = time.monotonic() + 240
  while not (out / "metrics.jsonl").exists() or len(_steps(out)) < 3:
    if proc.poll() is not None or time.monotonic() > deadline:
      proc.kill()
      pytest.fail(f"the run logged no 3 steps: {proc.communicate()[1][-2000:]}")
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  stopped = int(err.split("at step ")[1].split(":")[0])
  assert f"interrupted (SIGTERM) at step {stopped}" in err and "--resume" in err
  assert (out / "checkpoints" / "last" / str(stopped)).is_dir()
  assert not list((out / "checkpoints").rglob("*tmp*"))
  for args in (
    [*common, "--out", str(out), "--max-steps", str(stopped + 2), "--resume"],
    [*common, "--out", str(tmp_path / "whole"), "--max-steps", str(stopped + 2)],
  ):
    subprocess.run(
      args, env=env, cwd=Path(__file__).parents[1], check=True, capture_output=True, timeout=300
    )
  losses = lambda d: [(r["step"], r["loss"]) for r in _steps(d) if r["kind"] == "step"]
  assert losses(out) == losses(tmp_path / "whole")


def test_a_signal_during_a_save_lets_the_save_finish(story, tmp_path, monkeypatch, capsys):
  real_save = RunCheckpoints.save

  def save_while_interrupted(self, step, state, meta):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives while the checkpoint is written
    real_save(self, step, state, meta)

  monkeypatch.setattr(RunCheckpoints, "save", save_while_interrupted)
  out = tmp_path / "run"
  err = _error(
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(story),
      "--out",
      str(out),
      "--max-steps",
      "50",
      "--checkpoint-every",
      "2",
      "--generate-every",
      "0",
      "--no-plots",
    ],
    capsys,
    status=130,
  )
  assert f"interrupted (Ctrl-C) at step 2: saved {out / 'checkpoints' / 'last'}/2;" in err, err
  assert sorted(p.name for p in (out / "checkpoints" / "last").iterdir()) == ["2"]


def test_prompt_fallback_generate_out_and_sizes_refused(story, tmp_path, capsys):
  out = tmp_path / "run"
  lower = tmp_path / "lower.txt"
  lower.write_text(story.read_text().lower())  # no 'Y': the default prompt can't be encoded
  main(
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(lower),
      "--out",
      str(out),
      "--max-steps",
      "2",
      "--generate-every",
      "1",
      "--sample-tokens",
      "5",
      "--no-plots",
    ]
  )
  said = capsys.readouterr().out
  assert said.count("lacks characters of the default sample prompt") == 1
  samples = [r for r in _steps(out) if r["kind"] == "sample"]
  assert samples and all(r["prompt"] == lower.read_text()[:17] for r in samples)
  assert "'Y'" in _error(
    [
      "gpt-train",
      *TINY,
      "--txt-file",
      str(lower),
      "--out",
      str(tmp_path / "x"),
      "--sample-prompt",
      "Yes",
    ],
    capsys,
  )
  for target, message in (
    (tmp_path, "is a folder"),
    (tmp_path / "file.txt" / "s.txt", "not a writable folder"),
  ):
    (tmp_path / "file.txt").write_text("")
    err = _error(["gpt-generate", "--checkpoint", str(out), "--out", str(target)], capsys)
    assert message in err
  assert "GB per device" in _error(
    [
      "gpt-train",
      *TINY[:6],
      "--n-embd",
      "65536",
      "--block-size",
      "16",
      "--txt-file",
      str(story),
      "--out",
      str(tmp_path / "big"),
    ],
    capsys,
  )


def test_bf16_training_stays_close_to_float32():
  cfg = ModelConfig(vocab_size=17, n_layer=2, n_head=2, n_embd=32, block_size=16, dropout=0.0)
  data = jax.random.randint(jax.random.key(0), (2000,), 0, 17)
  mesh = devices.mesh()
  lr = learning_rate_schedule("constant", 3e-3, 1)
  tx = make_optimizer(3e-3, 0.1)
  losses = {}
  for precision in ("fp32", "bf16"):
    c = dataclasses.replace(cfg, precision=precision)
    state = create_state(c, tx, 0)
    step = make_train_step(c, tx, lr, 16, mesh)
    losses[precision] = []
    for _ in range(8):
      state, m = step(state, data)
      losses[precision].append(float(m["loss"]))
  assert losses["fp32"][-1] < losses["fp32"][0]
  np.testing.assert_allclose(losses["bf16"], losses["fp32"], atol=0.02)


def test_a_folder_with_any_run_output_is_a_run_and_another_commands_folder_is_refused(
  story, tmp_path, capsys
):
  """A log without checkpoints (the committed results keep no checkpoints) is a run, and so is
  a checkpoint alone: refused without --overwrite; --overwrite refuses a folder of another
  command, whose files stay."""
  out = tmp_path / "results"
  out.mkdir()
  (out / "metrics.jsonl").write_text('{"kind": "step", "step": 1}\n')
  err = _error(["gpt-train", *TINY, "--txt-file", str(story), "--out", str(out)], capsys)
  assert "holds a gpt-train run; pass --resume to continue it, --overwrite" in err
  assert (out / "metrics.jsonl").read_text() == '{"kind": "step", "step": 1}\n'
  saved = tmp_path / "saved"  # a checkpoint alone is a run too
  (saved / "checkpoints" / "last" / "5").mkdir(parents=True)
  err = _error(["gpt-train", *TINY, "--txt-file", str(story), "--out", str(saved)], capsys)
  assert "holds a gpt-train run; pass --resume to continue it, --overwrite" in err
  rotation = tmp_path / "rotation"
  (rotation / "checkpoints" / "plain" / "10").mkdir(parents=True)
  (rotation / "rotation_study.json").write_text("{}")
  err = _error(
    ["gpt-train", *TINY, "--txt-file", str(story), "--out", str(rotation), "--overwrite"], capsys
  )
  assert "holds the outputs of rotation-study, not gpt-train" in err
  assert (rotation / "checkpoints" / "plain" / "10").is_dir()


def test_sizes_and_a_warmup_that_cannot_work_are_refused_before_work(story, tmp_path, capsys):
  base = ["gpt-train", *TINY, "--txt-file", str(story), "--out", str(tmp_path / "run")]
  err = _error([*base, "--eval-iters", "100000000"], capsys)
  assert "--eval-iters must be <= 100000, got 100000000" in err
  model_cfg = ModelConfig(vocab_size=65, n_layer=1, n_head=1, n_embd=8, block_size=32)
  per_iter = train_lib.bytes_per_device(model_cfg, 8, 1, 2) - train_lib.bytes_per_device(
    model_cfg, 8, 1, 1
  )
  assert per_iter == 2 * 4 * 8 * 32  # the fixed evaluation batches are in the estimate
  # a device holds its share of the batch, rounded up
  one_device = lambda b: train_lib.bytes_per_device(model_cfg, b, 1)
  assert train_lib.bytes_per_device(model_cfg, 9, 2) == one_device(5) > one_device(4)
  err = _error([*base, "--warmup-steps", "1000000000000", "--lr-schedule", "cosine"], capsys)
  assert "--warmup-steps must be <= 2147483647" in err
  err = _error([*base, "--warmup-steps", "50", "--lr-schedule", "cosine", "--max-steps", "10"],
               capsys)  # fmt: skip
  assert "--warmup-steps 50 is not shorter than the run's 10 steps" in err
  assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize(
  "n_head, n_embd, block_size, batch, vocab",
  [
    (2, 384, 8, 1, 11),  # the parameters of the blocks and their Adam copies dominate
    (2, 32, 8, 1, 20000),  # the embedding and the head's parameters
    (2, 128, 64, 16, 11),  # the activations of the widths
    (4, 16, 256, 2, 11),  # the attention rows
    (2, 16, 16, 32, 2000),  # the logits
  ],
)
def test_the_memory_estimate_is_within_a_small_factor_of_xlas_count(
  n_head, n_embd, block_size, batch, vocab
):
  """bytes_per_device against XLA's memory analysis of the compiled step (arguments, temporary
  buffers and outputs not aliased to donated arguments), each size chosen so that one term of
  the estimate dominates: within 2.5x either way (core/memory's "a small factor")."""
  cfg = ModelConfig(
    vocab_size=vocab, n_layer=1, n_head=n_head, n_embd=n_embd, block_size=block_size
  )
  tx = make_optimizer(1e-3, 0.1)
  step = train_lib.make_train_step(
    cfg, tx, learning_rate_schedule("constant", 1e-3, 1), batch, devices.mesh()
  )
  state = jax.eval_shape(lambda: train_lib.create_state(cfg, tx, 0))
  data = jax.ShapeDtypeStruct((4096,), jnp.int32)
  xla = memory.compiled_bytes(step.lower(state, data).compile())
  assert 1 / 2.5 < train_lib.bytes_per_device(cfg, batch, 1) / xla < 2.5


def test_a_binary_txt_file_is_one_line_every_time(tmp_path):
  """The one-line error and nothing after it (no checkpoint manager left saving): a real
  process, three times."""
  binary = tmp_path / "blob.txt"
  binary.write_bytes(bytes(range(256)) * 64)
  for i in range(3):
    r = subprocess.run(
      [sys.executable, "-m", "hw2_jax", "gpt-train", *TINY, "--txt-file", str(binary), "--out",
       str(tmp_path / f"z{i}")],
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1"),
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "is not UTF-8 text" in r.stderr


def test_the_plan_the_samples_once_and_generate_finds_the_newest_run(
  story, tmp_path, capsys, monkeypatch
):
  """After the first timed call the run prints its plan (and, past an hour on a CPU, the
  CPU-sized command); each sample is printed once; gpt-generate without --checkpoint samples
  from the newest gpt-train run under runs/."""
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(study_lib, "CPU_HOUR_S", 0.0)
  monkeypatch.setattr(study_lib, "_on_a_cpu", lambda: True)  # the hint as on a CPU, on any device
  main(["gpt-train", *TINY, "--txt-file", str(story), "--max-steps", "6", "--log-every", "2",
        "--generate-every", "3", "--sample-tokens", "5", "--no-plots"])  # fmt: skip
  out = capsys.readouterr().out
  assert out.count("plan: 2 more steps at ") == 1
  assert "over an hour on this CPU" in out and "--model-type gpt-micro --max-steps 500" in out
  assert out.count("--- sample 1 at step 6") == 1 and out.count("--- sample 2 at step 6") == 1
  runs = list((tmp_path / "runs").iterdir())
  assert len(runs) == 1 and runs[0].name.startswith("gpt-")  # named by the settings that differ
  # samples at step 3, between two log steps: the steps before them are written first
  order = [(r["kind"], r["step"]) for r in _steps(runs[0]) if r["kind"] in ("step", "sample")]
  assert order[:5] == [("step", 1), ("step", 2), ("step", 3), ("sample", 3), ("step", 4)]
  main(["gpt-generate", "--max-new-tokens", "3", "--prompt", "the"])
  captured = capsys.readouterr()
  assert f"sampling from {Path('runs') / runs[0].name}" in captured.err
  assert captured.out.startswith("--- sample 1 (step 6)\nthe")


def test_a_failure_after_training_keeps_the_trained_state(story, tmp_path, monkeypatch):
  """The last checkpoint is saved before the final evaluation: an evaluation that fails (here
  on purpose; out of memory in real life) loses no training."""

  def fail(self, state, step):
    raise MemoryError("RESOURCE_EXHAUSTED: out of memory in the final evaluation")

  monkeypatch.setattr(study_lib._Events, "evaluate", fail)
  out = tmp_path / "run"
  with pytest.raises(MemoryError):
    _train(story, out, "--max-steps", "4", "--checkpoint-every", "100")
  mngr = checkpoint.manager(out / "checkpoints" / "last")
  assert mngr.all_steps() == [4]
  mngr.close()


def test_gpt_plot_names_a_metrics_record_of_the_wrong_shape(story, tmp_path, capsys):
  out = tmp_path / "run"
  _train(story, out, "--max-steps", "4")
  with open(out / "metrics.jsonl", "a") as f:
    f.write(json.dumps({"kind": "step", "step": 5, "epoch": 0.1}) + "\n")  # no loss, no acc
  err = _error(["gpt-plot", "--run", str(out)], capsys)
  assert "metrics.jsonl line " in err and "loss" in err and "gpt-train run" in err


def test_the_loop_calls_its_events_at_their_cadences_and_tells_the_stop_watcher_the_wait():
  """train_loop with a stand-in device call (10 ms a step): one call up to the next event;
  the metrics logged every --log-every steps (the first window, which compiles, untimed),
  evaluation, samples and checkpoints at their own cadences but not at the last step; before
  each call the Ctrl-C watcher is told how long it will take (steps x the last timed window's
  time per step, nothing before one was timed); all processes are asked together (sync) only
  at the log steps."""
  cfg = types.SimpleNamespace(log_every=4, eval_every=6, generate_every=8, checkpoint_every=0)
  seen = []

  def steps_fn(n):
    def call(state, data_N):
      time.sleep(0.01 * n)
      return state + n, {"n": n}

    return call

  class Events:
    log = types.SimpleNamespace(add=lambda metrics: seen.append(("add", metrics["n"])))
    flush = lambda self, step, timed=True: seen.append(("flush", step, timed))
    plan = lambda self, step, per_step: seen.append(("plan", step))
    evaluate = lambda self, state, step: seen.append(("evaluate", step))
    sample = lambda self, state, step: seen.append(("sample", step))
    save = lambda self, state, step: seen.append(("save", step))

  waits, syncs = [], []
  stop = types.SimpleNamespace(
    running=waits.append, requested=lambda sync=False: syncs.append(sync) or False
  )
  state, step = train_lib.train_loop(cfg, steps_fn, None, 2, 2, 14, Events(), stop)
  assert (state, step) == (14, 14)
  assert seen == [
    ("add", 2), ("flush", 4, False), ("add", 2), ("evaluate", 6), ("add", 2), ("flush", 8, True),
    ("plan", 8), ("sample", 8), ("add", 4), ("flush", 12, True), ("plan", 12), ("evaluate", 12),
    ("add", 2),
  ]  # fmt: skip
  assert syncs == [True, False, True, True, False]
  assert waits[:3] == [0.0, 0.0, 0.0]  # nothing timed before the window 6-8
  assert 4 * 0.01 <= waits[3] < 4 * 0.01 * 3  # 4 steps at the window's ~10 ms per step
  assert 2 * 0.01 <= waits[4] < 2 * 0.01 * 3


def test_run_checkpoints_keep_ties_out_of_best_refuse_another_schedule_length_and_close(
  tmp_path, monkeypatch, record_managers
):
  """RunCheckpoints on its own, with a one-leaf state: a loss equal to the best one is no
  improvement (save_best answers False and keeps the first); a resumed cosine run must keep
  its number of steps (the schedule depends on it) while a constant one may change it; and
  both checkpoint managers are closed when the block is left by an error; a step that is not
  kept is refused with the steps that are. Every process waits at a barrier after looking at
  the folder and before any manager creates a folder in it (process 0's folders would make a
  slower process see "a gpt-train run")."""
  out, state = tmp_path / "run", {"w": jnp.arange(3.0)}
  model = dataclasses.asdict(ModelConfig(vocab_size=5, n_layer=1, n_head=1, n_embd=8))
  for schedule in ("cosine", "constant"):
    cfg = Config(out=str(out), lr_schedule=schedule, overwrite=True)
    with RunCheckpoints(out, cfg) as ckpts:
      meta = ckpts.meta(1, 2.0, model=model, vocab="abcde", text_sha256="0", total_steps=10)
      ckpts.save(1, state, meta)
      assert ckpts.save_best(1, state, meta, 2.0) is True
      assert ckpts.save_best(2, state, meta, 2.0) is False  # a tie: the first stays
      assert ckpts.best.all_steps() == [1]
    resumed = RunCheckpoints(out, dataclasses.replace(cfg, overwrite=False, resume=True))
    with resumed:
      resumed.check_resume("abcde", "0", model, 10)  # the same length: accepted
      if schedule == "cosine":
        with pytest.raises(ConfigError, match="the cosine schedule's steps 10 there, 12 here"):
          resumed.check_resume("abcde", "0", model, 12)
      else:
        resumed.check_resume("abcde", "0", model, 12)
  managers = record_managers()
  monkeypatch.setattr(devices, "barrier", lambda name: managers.events.append(name))
  with pytest.raises(RuntimeError), RunCheckpoints(out, Config(out=str(out), resume=True)) as c:
    raise RuntimeError("a failure while training")
  assert managers.closed == [c.last, c.best]
  assert managers.events == ["gpt-checked", "manager", "manager"]
  with pytest.raises(ConfigError, match=r"--step 7: .*last holds steps \[1\]"):
    restore_run(out, "last", step=7)  # gpt-generate --step of a checkpoint not kept


def test_newest_run_is_the_gpt_train_run_with_the_latest_checkpoint(tmp_path):
  """gpt-generate's default run: among the folders under runs/, only gpt-train runs with a
  checkpoint count, and the newest is the one whose last checkpoints were written last, not
  the last name in order."""

  def folder(name, command, checkpoint, mtime):
    (tmp_path / name).mkdir()
    (tmp_path / name / ".hw2_jax.json").write_text(json.dumps({"command": command}))
    last = tmp_path / name / "checkpoints" / "last"
    (last / "4" if checkpoint else last).mkdir(parents=True)
    os.utime(last, (mtime, mtime))

  folder("b-older", "gpt-train", True, 1_000)
  folder("a-newer", "gpt-train", True, 2_000)
  folder("c-no-checkpoint", "gpt-train", False, 3_000)
  folder("d-padding", "padding-study", True, 4_000)
  (tmp_path / "notes").mkdir()  # neither a run nor a checkpoint
  assert newest_run(tmp_path) == str(tmp_path / "a-newer")
  assert newest_run(tmp_path / "notes") is None


def test_the_held_out_text_needs_one_window_and_the_default_prompt_is_kept_when_it_fits():
  """A held-out text of block_size characters has no window of block_size + 1: refused; one
  more character is enough. The samples start from the default prompt whenever the text has
  all its characters (said nothing), else from the text's first characters (said once)."""
  text = "Yesterday I went into the wood. " * 3 + "abcd"  # 100 characters
  tok = CharTokenizer.from_text(text)
  cfg = lambda fraction: Config(val_fraction=fraction, block_size=16, train_batch_size=8)
  with pytest.raises(ConfigError, match="--val-fraction 0.16 holds out 16 characters"):
    study_lib._split(cfg(0.16), tok, text)
  _, val_ids, _ = study_lib._split(cfg(0.17), tok, text)
  assert len(val_ids) == 17
  said = []
  assert study_lib._sample_prompt(Config(), tok, text, said.append) == DEFAULT_PROMPT
  assert said == []
  lower = text.lower()
  prompt = study_lib._sample_prompt(Config(), CharTokenizer.from_text(lower), lower, said.append)
  assert prompt == lower[: len(DEFAULT_PROMPT)] and len(said) == 1


def test_train_and_evaluate_without_an_out_folder_names_one_under_runs_and_shows_a_bar(
  story, tmp_path, monkeypatch
):
  """Called with no --out (from Python, as the CLI would), the run goes to runs/gpt-<the
  settings that differ from the defaults> in the working folder. The progress bar counts the
  run's steps, resizes with the terminal, and is left to tqdm's own check for a terminal on
  the main process (so a log file gets none); --no-progress turns it off; it ends at the last
  step showing the epoch and the loss; the run closes it."""
  bars, kept, closed, shown, real_tqdm = [], [], [], [], study_lib.tqdm

  def tqdm(**kw):
    bars.append(kw)
    kept.append(real_tqdm(**kw))  # kept: no garbage collector closes it for the run
    kept[-1].close = lambda bar=kept[-1]: closed.append(bar) or type(bar).close(bar)
    kept[-1].set_postfix = lambda **kw: shown.append(kw)
    kept[-1].update = lambda k, bar=kept[-1]: setattr(bar, "n", bar.n + k)  # counts, if hidden
    return kept[-1]

  monkeypatch.setattr(study_lib, "tqdm", tqdm)
  monkeypatch.chdir(tmp_path)
  cfg = Config(model_type="gpt-nano", n_layer=2, n_head=2, n_embd=16, block_size=16,
               train_batch_size=8, txt_file=str(story), max_steps=2, eval_iters=1,
               generate_every=0)  # fmt: skip
  summary = train_and_evaluate(cfg, log=lambda _: None)
  (run,) = (tmp_path / "runs").iterdir()
  assert run.name.startswith("gpt-") and run.name == Path(cfg.with_out().out).name
  assert json.loads((run / "summary.json").read_text())["steps"] == summary["steps"] == 2
  train_and_evaluate(dataclasses.replace(cfg, out="quiet", progress=False), log=lambda _: None)
  assert bars == [
    dict(total=2, unit="step", dynamic_ncols=True, disable=disable) for disable in (None, True)
  ]
  assert closed == kept  # each run closed its bar
  assert [bar.n for bar in kept] == [2, 2]  # at the last step
  spe = summary["steps_per_epoch"]
  assert shown[-1] == dict(epoch=f"{2 / spe:.2f}", loss=f"{summary['final_loss']:.4f}")


def test_the_plan_is_said_once_with_the_time_left_and_the_cpu_hint_only_past_an_hour_on_a_cpu(
  monkeypatch,
):
  """_Events.plan on its own: said once per run, the rest of the run's steps times the measured
  time per step; the CPU-sized command only when that is over an hour (exactly an hour is not)
  and the backend is a CPU."""
  said = []
  events = types.SimpleNamespace(
    planned=False, r=types.SimpleNamespace(total_steps=1000), say=said.append
  )
  plan = study_lib._Events.plan
  monkeypatch.setattr(study_lib.jax, "default_backend", lambda: "cpu")  # whatever runs this
  plan(events, 100, 4.0)  # 900 steps x 4 s: exactly an hour
  plan(events, 200, 4.0)  # said once
  assert said == ["plan: 900 more steps at 4.00 s a step, about 01:00:00 of training"]
  said.clear()
  events.planned = False
  plan(events, 100, 4.001)  # 3600.9 s
  assert said[0] == "plan: 900 more steps at 4.00 s a step, about 01:00:00 of training"
  assert len(said) == 2 and "over an hour on this CPU" in said[1]
  assert study_lib.CPU_COMMAND in said[1]
  said.clear()
  events.planned = False
  monkeypatch.setattr(study_lib.jax, "default_backend", lambda: "gpu")
  plan(events, 100, 40.0)  # ten hours, but not on a CPU
  assert said == ["plan: 900 more steps at 40.00 s a step, about 10:00:00 of training"]


def test_evaluations_samples_and_saves_come_after_their_steps_and_stay_out_of_tokens_per_s(
  story, tmp_path, monkeypatch
):
  """An evaluation every 2 steps, samples every 4, a checkpoint every 6, metrics fetched only at
  the end (--log-every 8): an evaluation's record comes after the records of the steps before
  it (the pending metrics are written first); the time each takes (here 0.5 s, slowed on
  purpose) stays out of the tokens/s of the steps after it (each the last thing done at its
  step once: the evaluation at 2, the samples at 4, the checkpoint at 6); the summary gives
  the last and the best validation loss; the checkpoint records its epoch length and the
  device it ran on."""
  slow = lambda f: lambda *a, **k: time.sleep(0.5) or f(*a, **k)
  real_eval_step = study_lib.make_eval_step
  monkeypatch.setattr(study_lib, "make_eval_step", lambda *a: slow(real_eval_step(*a)))
  monkeypatch.setattr(Generator, "generate", slow(Generator.generate))
  monkeypatch.setattr(RunCheckpoints, "save", slow(RunCheckpoints.save))
  out = tmp_path / "run"
  _train(story, out, "--max-steps", "8", "--log-every", "8", "--eval-every", "2",
         "--eval-iters", "1", "--val-fraction", "0.2", "--generate-every", "4",
         "--sample-tokens", "2", "--checkpoint-every", "6")  # fmt: skip
  records = _steps(out)
  order = [(r["kind"], r["step"]) for r in records if r["kind"] in ("step", "eval")]
  steps = lambda *numbers: [("step", n) for n in numbers]
  assert order == [*steps(1, 2), ("eval", 2), *steps(3, 4), ("eval", 4), *steps(5, 6),
                   ("eval", 6), *steps(7, 8), ("eval", 8)]  # fmt: skip
  # windows of 2 steps (one program), each after slowed events: none holds their 0.5 s
  seconds_per_step = [8 * 16 / r["tokens_per_s"] for r in records if r["kind"] == "step"]
  assert max(seconds_per_step[2:]) < 0.2, seconds_per_step
  evals = [r["val_loss"] for r in records if r["kind"] == "eval"]
  assert evals[-1] != evals[0]
  text = (out / "summary.json").read_text()
  assert text.startswith('{\n  "steps": 8,\n')  # indented by 2, for a person
  summary = json.loads(text)
  assert (summary["val_loss"], summary["best_val_loss"]) == (evals[-1], min(evals))
  # the process's peak resident memory in GB (ru_maxrss is in KiB on Linux)
  peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  assert summary["peak_rss_gb"] == pytest.approx(peak_gb, rel=1e-3) and peak_gb > 0.1
  _, _, _, meta = restore_run(out)
  assert (meta["steps_per_epoch"], meta["device"]) == (
    summary["steps_per_epoch"],
    summary["device"],
  )
  assert meta["total_steps"] == 8


def test_a_batch_that_does_not_split_over_the_devices_is_refused_in_one_line(
  story, tmp_path, capsys, monkeypatch
):
  """Data parallel: every device takes an equal share of the batch, so 8 over 3 devices is
  refused, naming both numbers and the fix (a 3-device mesh stood in for)."""
  three = types.SimpleNamespace(devices=np.empty(3))
  monkeypatch.setattr(study_lib.devices, "mesh", lambda: three)
  err = _error(["gpt-train", *TINY, "--txt-file", str(story), "--out", str(tmp_path / "run")],
               capsys)  # fmt: skip
  assert "--train-batch-size 8 does not split over 3 devices; pass a multiple of 3." in err
  monkeypatch.undo()  # the same command on one device then runs in the same folder
  main(["gpt-train", *TINY, "--txt-file", str(story), "--out", str(tmp_path / "run"),
        "--max-steps", "1", "--eval-iters", "1", "--generate-every", "0", "--no-plots"])  # fmt: skip
  assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 1


def test_the_banner_names_the_attention_that_trains_and_the_one_that_evaluates():
  """A run on a GPU with dropout trains on the explicit path and evaluates and samples on the
  fused kernel; the banner said "fused" for both."""
  cfg = ModelConfig(vocab_size=5, dropout=0.1, fused_attention=True)
  assert study_lib._attention(cfg) == "explicit (training), fused (evaluating)"
  assert study_lib._attention(dataclasses.replace(cfg, dropout=0.0)) == "fused"
  assert study_lib._attention(dataclasses.replace(cfg, fused_attention=False)) == "explicit"


@pytest.mark.skipif(not TBX, reason="compares with a run that has tensorboardX")
def test_without_tensorboardx_a_run_says_so_and_logs_the_same_metrics(
  story, tmp_path, monkeypatch, capsys
):
  """A machine's own Python with JAX but not tensorboardX (the H200 check's) failed at the
  first log line with an internal error; now it trains, writes metrics.jsonl as before and
  says that it writes no tb/."""
  flags = [*TINY, "--txt-file", str(story), "--max-steps", "4", "--log-every", "2"]
  main(["gpt-train", *flags, "--out", str(tmp_path / "with")])
  monkeypatch.setitem(sys.modules, "tensorboardX", None)  # its import now raises ImportError
  capsys.readouterr()
  main(["gpt-train", *flags, "--out", str(tmp_path / "without")])
  assert "tensorboardX is not installed" in capsys.readouterr().out
  assert not (tmp_path / "without" / "tb").exists() and (tmp_path / "with" / "tb").is_dir()
  strip = lambda rs: [{k: v for k, v in r.items() if k not in ("tokens_per_s", "elapsed_s")}
                      for r in rs]  # fmt: skip
  assert strip(_steps(tmp_path / "without")) == strip(_steps(tmp_path / "with"))


def test_a_run_of_one_device_call_says_its_tokens_per_s_were_not_measured(story, tmp_path, capsys):
  """Its only call compiles and is left out of tokens/s: the summary said "median nan"."""
  flags = [*TINY, "--txt-file", str(story), "--max-steps", "2", "--log-every", "2"]
  main(["gpt-train", *flags, "--out", str(tmp_path / "run")])
  out = capsys.readouterr().out
  assert "tokens/s not measured (too short a run" in out and "nan" not in out

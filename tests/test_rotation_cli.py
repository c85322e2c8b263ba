"""End to end through the CLI on a generated image folder and on mocked tfds data."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest
from test_rotation_data import make_folder

from hw2_jax.cli import build_parser, main
from hw2_jax.core import devices, flags, interrupt, launch
from hw2_jax.rotation import study, train
from hw2_jax.rotation.config import Config
from hw2_jax.rotation.model import CNN

OUTPUTS = (
  "rotation_study.json",
  "rotation_study.md",
  "rotation_study.png",
  "samples_plain.png",
  "samples_augmented.png",
)


def _run(argv):
  main(["rotation-study"] + [str(a) for a in argv])


def test_folder_run_writes_every_output_then_eval_only(tmp_path):
  """A run on a class-folder tree writes every output; its checkpoints are evaluated again
  with --eval-only; a process with two devices restores one model (its 3 seeds padded to 4
  there) and trains the other over both devices, with the same numbers."""
  make_folder(tmp_path / "d", classes=("cat", "ship", "frog"), per_class=4)
  out = tmp_path / "out"
  _run(
    [
      "--data-dir",
      tmp_path / "d",
      "--out",
      out,
      "--epochs",
      2,
      "--seeds",
      3,
      "--batch-size",
      5,
      "--angles",
      0,
      90,
      180,
    ]
  )
  for name in OUTPUTS:
    assert (out / name).stat().st_size > 0, name
  result = json.loads((out / "rotation_study.json").read_text())
  assert result["angles"] == [0, 90, 180]
  assert result["config"]["seeds"] == 3 and result["config"]["epochs"] == 2
  assert set(result["models"]) == {"plain", "augmented"}
  for m in result["models"].values():
    acc = np.asarray(m["accuracy_per_seed"])
    assert acc.shape == (3, 3) and np.all((acc >= 0) & (acc <= 100))
    np.testing.assert_allclose(m["accuracy"], acc.mean(0), atol=1e-3)
    assert len(m["train_loss_per_epoch"]) == 2
  table = (out / "rotation_study.md").read_text()
  assert table.count("\n|") >= 4 and "±" in table
  assert (out / "checkpoints" / "plain").is_dir() and (out / "checkpoints" / "augmented").is_dir()

  again = tmp_path / "again"
  _run(
    [
      "--data-dir",
      tmp_path / "d",
      "--out",
      again,
      "--checkpoint-dir",
      out / "checkpoints",
      "--eval-only",
      "--angles",
      0,
      45,
    ]
  )
  redo = json.loads((again / "rotation_study.json").read_text())
  assert redo["angles"] == [0, 45] and redo["config"]["eval_only"]
  for name in ("plain", "augmented"):
    assert (
      redo["models"][name]["accuracy_per_seed"][0][0]
      == result["models"][name]["accuracy_per_seed"][0][0]
    )
  # two devices: plain's 3 seeds restored and padded to 4, augmented trained afresh over them
  shutil.copytree(out / "checkpoints" / "plain", tmp_path / "mixed" / "plain")
  two = tmp_path / "two-devices"
  subprocess.run([sys.executable, "-m", "hw2_jax", "rotation-study", "--data-dir",
                  str(tmp_path / "d"), "--out", str(two), "--checkpoint-dir", str(tmp_path / "mixed"),
                  "--epochs", "2", "--seeds", "3", "--batch-size", "5", "--angles", "0", "90", "180"],
                 env=launch.child_env(dict(os.environ), 2), check=True, capture_output=True)  # fmt: skip
  two = _json(two)
  assert two["device"].startswith("2 x cpu")
  for name in ("plain", "augmented"):
    for key in ("accuracy_per_seed", "train_loss_per_epoch_per_seed"):
      assert two["models"][name][key] == result["models"][name][key], (name, key)


def test_c4_models_on_a_folder_are_the_same_at_every_quarter_turn_and_their_sizes_recorded(
  tmp_path,
):
  """Issue 22's command: the C4 CNN's accuracy is identical at 0/90/180/270 degrees (exact
  quarter turns of the test images, logits invariant to them) for every seed (that the plain
  CNN's logits are not is tested in test_rotation_model); each model's parameter count is in
  the JSON and the table."""
  make_folder(tmp_path / "d", classes=("cat", "ship", "frog"), per_class=4)
  out = tmp_path / "out"
  _run(["--data-dir", tmp_path / "d", "--out", out, "--epochs", 1, "--seeds", 2,
        "--batch-size", 6, "--models", "plain", "c4", "c4-augmented",
        "--angles", 0, 90, 180, 270, 45])  # fmt: skip
  result = json.loads((out / "rotation_study.json").read_text())
  assert list(result["models"]) == ["plain", "c4", "c4-augmented"]
  sizes = {n: m["params"] for n, m in result["models"].items()}
  assert sizes == {"plain": 122_570, "c4": 113_212, "c4-augmented": 113_212}
  for name in ("c4", "c4-augmented"):
    for per_angle in result["models"][name]["accuracy_per_seed"]:
      assert per_angle[:4] == [per_angle[0]] * 4, (name, per_angle)
  assert (
    "Parameters per model: plain 122,570, c4 113,212, c4-augmented 113,212."
    in (out / "rotation_study.md").read_text()
  )


def test_limits_and_a_rerun_keeps_one_checkpoint(tmp_path):
  """--train-limit/--test-limit take that many images (a fixed subset); a second run with
  other settings replaces the first only with --overwrite and leaves only its own checkpoint:
  the other model's checkpoint is removed, and of a model saved after every epoch only the
  last save is kept."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=3)  # 6 + 6 images
  out, ckpt = tmp_path / "out", tmp_path / "ckpt"  # checkpoints kept apart from the results
  common = [
    "--data-dir",
    tmp_path / "d",
    "--out",
    out,
    "--checkpoint-dir",
    ckpt,
    "--batch-size",
    2,
    "--angles",
    0,
    90,
    "--train-limit",
    4,
    "--test-limit",
    3,
  ]
  _run(common + ["--epochs", 1, "--models", "plain", "augmented"])
  first = json.loads((out / "rotation_study.json").read_text())
  assert (ckpt / "augmented").is_dir()
  _run(common + ["--epochs", 2, "--models", "plain", "--overwrite", "--checkpoint-every-s", 0])
  result = json.loads((out / "rotation_study.json").read_text())
  assert [p.name for p in (ckpt / "plain").iterdir() if p.name.isdigit()] == ["2"]
  assert not (ckpt / "augmented").exists() and list(result["models"]) == ["plain"]
  for r in (first, result):
    assert (r["config"]["train_images"], r["config"]["test_images"]) == (4, 3)
    acc = np.asarray(r["models"]["plain"]["accuracy_per_seed"]) * 3 / 100  # images right
    np.testing.assert_allclose(acc, np.round(acc), atol=1e-3)
  assert len(result["models"]["plain"]["train_loss_per_epoch"]) == 2
  # the same images: the first epoch of both runs has the same loss
  assert (
    result["models"]["plain"]["train_loss_per_epoch"][0]
    == first["models"]["plain"]["train_loss_per_epoch"][0]
  )


def test_plain_and_augmented_models_differ_only_by_the_augmentation():
  """Both kinds start from the same weights and see the same batches: with rotations of 0
  degrees the augmented model is the plain one; with 90 degrees it is not, while the plain
  model never rotates."""
  rng = np.random.default_rng(0)
  images = jax.numpy.asarray(rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
  labels = jax.numpy.asarray(rng.integers(0, 10, 8).astype(np.int32))

  def run(name, angle):
    cfg = Config(epochs=1, batch_size=4, max_augment_angle=angle)
    state = train.init_state(CNN(), cfg.seed, 1, cfg.learning_rate)
    epochs = train.train_epochs(
      CNN(), state, images, labels, cfg, augment=name == "augmented", mesh=devices.mesh("seeds"),
      name=name,
    )  # fmt: skip
    ((_, state, losses, _),) = list(epochs)
    return state, losses

  plain, plain_losses = run("plain", 90.0)
  unturned, unturned_losses = run("augmented", 0.0)
  chex.assert_trees_all_close(unturned, plain, atol=1e-7)
  np.testing.assert_allclose(unturned_losses, plain_losses, rtol=1e-6)
  _, turned_losses = run("augmented", 90.0)
  assert not np.allclose(turned_losses, plain_losses, rtol=1e-6)


def test_tfds_mock_run(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=10):
    _run(["--out", tmp_path, "--epochs", 1, "--models", "augmented", "--angles", 0, 30])
  result = json.loads((tmp_path / "rotation_study.json").read_text())
  assert result["config"]["data"] == "tfds" and list(result["models"]) == ["augmented"]
  assert len(result["models"]["augmented"]["accuracy"]) == 2


@pytest.mark.parametrize(
  "argv, message",
  [
    (["--epochs", 0], "--epochs must be >= 1"),
    (["--seeds", 0], "--seeds must be >= 1"),
    (["--models", "rotated"], "argument --models: invalid choice: 'rotated'"),
    (["--data-dir", "nowhere"], "not found"),
    (["--angles", "0", "nan"], "--angles must be a finite number, got nan"),
    (["--angles", "inf"], "got inf"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
    (["--angles", "1e9"], "--angles must be <= 1000000.0, got 1000000000.0"),
    (["--seed", "-5"], "--seed must be >= 0, got -5"),
    (["--seed", str(2**70)], "--seed must be <= 2147483647"),
    (["--batch-size", 0], "--batch-size must be >= 1"),
    (["--lr", 0], "--learning-rate must be > 0.0, got 0.0"),
    (["--train-limit", 0], "--train-limit must be >= 1"),
    (["--test-limit", -1], "--test-limit must be >= 1"),
    (["--data-dir", "d", "--tfds-dir", "t"], "--data-dir and --tfds-dir both given"),
  ],
)
def test_bad_input_is_one_line_error(tmp_path, capsys, argv, message):
  with pytest.raises(SystemExit) as e:
    _run(argv + ["--out", tmp_path / "o", "--checkpoint-dir", tmp_path / "c"])
  assert e.value.code == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and message in err and "\n" not in err


def _json(out):
  return json.loads((out / "rotation_study.json").read_text())


def test_reruns_reuse_refuse_or_overwrite_the_trained_models(
  tmp_path, capsys, monkeypatch, record_managers
):
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=3)
  out = tmp_path / "out"
  base = [
    "--data-dir",
    tmp_path / "d",
    "--out",
    out,
    "--epochs",
    1,
    "--batch-size",
    4,
    "--angles",
    0,
    90,
  ]
  managers = record_managers()
  _run(base + ["--models", "plain"])
  first = _json(out)
  assert Config().with_out().out == "runs/rotation-study"
  assert Config(data_dir="d", seeds=5).with_out().out == "runs/rotation-study-data-folder_seeds-5"
  # the same settings and another model: plain is restored, not trained again
  trained = []
  real = study._train
  monkeypatch.setattr(
    study, "_train", lambda cfg, name, *a, **k: trained.append(name) or real(cfg, name, *a, **k)
  )
  _run(base + ["--models", "augmented"])
  assert trained == ["augmented"]
  merged = _json(out)
  assert set(merged["models"]) == {"plain", "augmented"}
  assert merged["models"]["plain"]["accuracy"] == first["models"]["plain"]["accuracy"]
  # other training settings: refused in one line before any work
  capsys.readouterr()
  with pytest.raises(SystemExit) as e:
    _run(base + ["--learning-rate", 0.01])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.count("\n") == 1
  assert "--learning-rate 0.001 there, 0.01 here" in err and "--overwrite" in err
  assert "--resume" not in err  # --resume would be refused the same way
  assert err.endswith("or another --out to keep it.\n")
  with pytest.raises(SystemExit):  # the flag that named the refused folder
    _run([*base[:2], "--out", tmp_path / "o2", *base[4:], "--checkpoint-dir", out / "checkpoints",
          "--learning-rate", 0.01])  # fmt: skip
  assert capsys.readouterr().err.endswith("or another --checkpoint-dir to keep it.\n")
  # --overwrite retrains and replaces the checkpoints
  _run(base + ["--learning-rate", 0.01, "--seed", 5, "--overwrite"])
  mngr = study._manager(study.Config(out=str(out)), "plain")
  meta = study.checkpoint.restore_meta(mngr)
  mngr.close()
  assert _json(out)["config"]["train_sha256"] == meta["settings"]["train_sha256"]
  assert meta["config"]["learning_rate"] == 0.01 and meta["config"]["seed"] == 5
  assert _json(out)["config"]["learning_rate"] == 0.01
  # --eval-only records the checkpoints' settings, not the flags' defaults
  again = tmp_path / "again"
  _run(
    [
      "--data-dir",
      tmp_path / "d",
      "--out",
      again,
      "--checkpoint-dir",
      out / "checkpoints",
      "--eval-only",
      "--angles",
      45,
      "--models",
      "plain",
    ]
  )
  cfg = _json(again)["config"]
  assert (cfg["epochs"], cfg["learning_rate"], cfg["seed"], cfg["batch_size"]) == (1, 0.01, 5, 4)
  assert managers.made and managers.closed == managers.made  # every one opened was closed


def test_ctrl_c_says_what_was_kept_in_one_line(tmp_path, capsys, monkeypatch):
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  monkeypatch.setattr(study, "_train", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
  with pytest.raises(SystemExit) as e:
    _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o"])
  err = capsys.readouterr().err
  assert e.value.code == 130 and err.count("\n") == 1
  assert "keep their last saved epoch; run the same command again to continue" in err


def _rewrite_epochs(monkeypatch, change):
  """The study sees each epoch's (losses, seconds) as `change` rewrites them; the training
  itself runs unchanged."""
  real_epochs = study.train.train_epochs
  monkeypatch.setattr(study.train, "train_epochs", lambda *a, **k: (
    (epoch, state, *change(loss, secs)) for epoch, state, loss, secs in real_epochs(*a, **k)))  # fmt: skip


class _AskedElsewhere(interrupt.StopRequests):
  """A stop asked in another process of the run: only the question asked of every process
  (`sync=True`) sees it, from the `after`-th question on; records each epoch's expected time."""

  def __init__(self, after: int):
    super().__init__("the current epoch")
    self.after, self.asked, self.expected = after, 0, []

  def running(self, expected_s):
    self.expected.append(expected_s)
    super().running(expected_s)

  def requested(self, sync=False):
    self.asked += 1
    return sync and self.asked >= self.after


def test_a_stop_asked_in_any_process_saves_after_the_epoch_and_stops(tmp_path, capsys, monkeypatch):
  """After each epoch the loop asks every process whether a stop was asked; the epoch is
  saved at once (not at its next periodic save) and the run stops saying so. Each epoch tells
  the stop watcher how long the last one took (its answer to Ctrl-C quotes it)."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  stop = _AskedElsewhere(after=2)
  monkeypatch.setattr(study.interrupt, "stop_requests", lambda what: contextlib.nullcontext(stop))
  with pytest.raises(SystemExit) as e:
    _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--epochs", 3, "--models",
          "plain", "--angles", 0])  # fmt: skip
  assert e.value.code == 130
  assert "plain saved after epoch 2 of 3" in capsys.readouterr().err
  assert [p.name for p in (tmp_path / "o" / "checkpoints" / "plain").iterdir()] == ["2"]
  assert len(stop.expected) == 2 and stop.expected[0] == 0.0 < stop.expected[1]


def test_a_diverged_seed_is_warned_of_left_out_and_not_checkpointed(tmp_path, capsys, monkeypatch):
  """A seed whose training loss turns non-finite: two warnings, the means over the other
  seeds, its index in the JSON, and no checkpoint of non-finite weights."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  _rewrite_epochs(monkeypatch, lambda loss, secs: (loss * np.array([1.0, np.nan]), secs))
  _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--epochs", 1, "--seeds", 2,
        "--models", "plain", "--angles", 0])  # fmt: skip
  said = capsys.readouterr().out
  assert "warning: plain: not checkpointed, a seed's training loss became non-finite" in said
  assert "warning: plain: the training loss of seed(s) [1] became non-finite" in said
  plain = _json(tmp_path / "o")["models"]["plain"]
  assert plain["diverged_seeds"] == [1] and plain["accuracy"] == plain["accuracy_per_seed"][0]
  assert not list((tmp_path / "o" / "checkpoints" / "plain").iterdir())


def test_an_overwrite_removes_the_old_results_before_it_trains(tmp_path, monkeypatch):
  """--overwrite removes the study's outputs and checkpoints first: stopped before its first
  epoch, it leaves no results that its checkpoints no longer back."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  out = tmp_path / "o"
  argv = ["--data-dir", tmp_path / "d", "--out", out, "--epochs", 1, "--models", "plain",
          "--angles", 0]  # fmt: skip
  _run(argv)
  assert (out / "rotation_study.json").exists() and (out / "checkpoints" / "plain").is_dir()
  monkeypatch.setattr(study, "_train", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
  with pytest.raises(SystemExit) as e:
    _run([*argv, "--learning-rate", 0.01, "--overwrite"])
  assert e.value.code == 130
  assert not any((out / name).exists() for name in study.report.FILES)
  assert not [p for p in (out / "checkpoints").rglob("*") if p.name.isdigit()]


def test_without_out_a_run_goes_under_runs_once_every_process_has_read_it(tmp_path, monkeypatch):
  """No --out: the study's settings name its folder under runs/; in a multi-process run every
  process checks that folder before process 0 writes into it (the barrier comes first)."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  monkeypatch.chdir(tmp_path)
  events, real_barrier, real_write = [], study.devices.barrier, study.rundir.write_outputs
  monkeypatch.setattr(study.devices, "barrier", lambda n: events.append(n) or real_barrier(n))
  monkeypatch.setattr(
    study.rundir, "write_outputs", lambda *a, **k: events.append("write") or real_write(*a, **k)
  )
  _rewrite_epochs(monkeypatch, lambda loss, secs: (loss, 0.5))  # each epoch said to take 0.5 s
  argv = ["rotation-study", "--data-dir", "d", "--epochs", 1, "--models", "plain", "--angles", 0]
  cfg = flags.from_args(Config, build_parser().parse_args([str(a) for a in argv]))
  began = time.perf_counter()
  said = []
  returned = study.train_and_evaluate(cfg, log=said.append)
  took = time.perf_counter() - began
  folder = "rotation-study-data-folder_epochs-1_angles-0.0"
  assert [p.name for p in (tmp_path / "runs").iterdir()] == [folder]
  result = _json(tmp_path / "runs" / folder)
  plain = result["models"]["plain"]
  assert returned == result  # the study it wrote
  assert any(line.startswith("data: ") for line in said)  # every line through its log
  wall = result["wall_seconds"]
  assert plain["eval_seconds"] <= wall <= took + 0.05 and wall == round(wall, 1)  # in tenths
  assert plain["train_seconds"] == 0.5  # the epochs' own seconds
  assert study.train_and_evaluate(cfg)["models"]["plain"]["train_seconds"] == 0.5  # restored
  assert events[0] == "rotation-checked" and events[-1] == "write"


def test_a_batch_larger_than_the_data_trains_on_all_and_the_same_command_reruns(
  tmp_path, monkeypatch
):
  """--batch-size above the image count trains on one batch of all images (as a DataLoader)
  and records what was asked, so the identical command reruns (and retrains nothing)."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  argv = ["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--epochs", 1, "--batch-size",
          10**6, "--models", "plain", "--angles", 0]  # fmt: skip
  _run(argv)
  first = _json(tmp_path / "o")
  assert first["config"]["batch_size"] == 10**6
  monkeypatch.setattr(study, "_train", lambda *a, **k: pytest.fail("trained again"))
  _run(argv)
  again = _json(tmp_path / "o")["models"]["plain"]
  for key in ("accuracy_per_seed", "train_loss_per_epoch_per_seed", "train_seconds"):
    assert again[key] == first["models"]["plain"][key], key


def test_help_says_what_the_limits_do_and_each_default_once(capsys):
  with pytest.raises(SystemExit):
    main(["rotation-study", "--help"])
  text = " ".join(capsys.readouterr().out.split())
  assert "--train-limit N train on a fixed random subset of N training images" in text
  assert "(default: None)" not in text and "default: 10) (default" not in text


def test_unwritable_checkpoint_dir_names_its_flag(tmp_path, capsys):
  (tmp_path / "file").write_text("")
  with pytest.raises(SystemExit):
    _run(
      [
        "--data-dir",
        tmp_path / "d",
        "--out",
        tmp_path / "o",
        "--checkpoint-dir",
        tmp_path / "file" / "c",
      ]
    )
  err = capsys.readouterr().err
  assert "--checkpoint-dir" in err and "pass a writable one with --checkpoint-dir" in err


def test_other_data_are_refused_with_the_checksum_not_silently_reused(tmp_path, capsys):
  make_folder(tmp_path / "a", classes=("cat", "ship"), per_class=2, seed=0)
  make_folder(tmp_path / "b", classes=("cat", "ship"), per_class=2, seed=1)
  argv = ["--out", tmp_path / "o", "--epochs", 1, "--models", "plain", "--angles", 0]
  _run(["--data-dir", tmp_path / "a", *argv])
  said = "\n" + capsys.readouterr().out
  assert "\ndata: " in said  # where the images came from, then what the run will do
  assert f"\nrotation study into {tmp_path / 'o'}: train 4 images, test 4, 1 seed(s)" in said
  assert "\nplain epoch 1/1: loss " in said and "\nplain: accuracy 0deg " in said
  with pytest.raises(SystemExit) as e:
    _run(["--data-dir", tmp_path / "b", *argv])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.count("\n") == 1
  assert "a trained plain model with other settings (the training images (checksum)" in err
  # the same images under another name: the same data, reused
  (tmp_path / "a").rename(tmp_path / "renamed")
  _run(["--data-dir", tmp_path / "renamed", *argv])
  assert "plain: restored" in capsys.readouterr().out


def test_a_shared_checkpoint_dir_is_locked_before_any_work(tmp_path, capsys):
  from hw2_jax.core import rundir

  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  with rundir.claim(tmp_path / "ckpt", "rotation-study", "--checkpoint-dir"):
    with pytest.raises(SystemExit) as e:
      _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--checkpoint-dir",
            tmp_path / "ckpt"])  # fmt: skip
  err = capsys.readouterr().err
  assert e.value.code == 2 and "--checkpoint-dir" in err and "in use by another run" in err
  assert not (tmp_path / "o" / "rotation_study.json").exists()


def test_angles_are_reduced_modulo_360_in_float64():
  images, labels = np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int32)
  images[:, :8, :, 0] = 255  # a bright top band: rotations move it
  params = train.init_state(CNN(), 0, 1, 1e-3).params
  far, near = (train.evaluate(CNN(), params, images, labels, [a]) for a in (1e6 + 90, 10.0))
  np.testing.assert_array_equal(far, near)  # 1,000,090 degrees is 10 degrees
  assert train.reduce_angle(1e6 + 90) == 10.0 and train.reduce_angle(-90) == 270.0


def test_a_process_stopped_mid_model_continues_with_the_same_numbers(tmp_path, capsys):
  """Ctrl-C to a real process once epoch 1 of 12 is saved (it finishes the epoch in progress and
  saves), then the same command: the losses and accuracies of an uninterrupted run, bit for bit.
  (12 epochs: these take milliseconds, and a stop asked during the last epoch is a finished run.)"""
  make_folder(tmp_path / "d", classes=("cat", "ship", "frog"), per_class=4)
  argv = ["rotation-study", "--data-dir", str(tmp_path / "d"), "--epochs", "12", "--batch-size",
          "4", "--models", "augmented", "--angles", "0", "45", "--checkpoint-every-s", "0"]  # fmt: skip
  out = tmp_path / "stopped"
  env = dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1")
  proc = subprocess.Popen([sys.executable, "-m", "hw2_jax", *argv, "--out", str(out)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
  deadline = time.monotonic() + 300
  while not (out / "checkpoints" / "augmented" / "1").is_dir() and time.monotonic() < deadline:
    time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130 and "saved after epoch" in err, err
  with pytest.raises(SystemExit, match="2"):  # not evaluated as if trained
    main([*argv, "--out", str(tmp_path / "eval"), "--checkpoint-dir", str(out / "checkpoints"),
          "--eval-only"])  # fmt: skip
  assert "no trained augmented model" in capsys.readouterr().err
  main([*argv, "--out", str(out)])
  main([*argv, "--out", str(tmp_path / "whole")])
  got, want = (_json(d)["models"]["augmented"] for d in (out, tmp_path / "whole"))
  for key in ("accuracy_per_seed", "train_loss_per_epoch_per_seed"):
    assert got[key] == want[key], key


def test_a_study_whose_checkpoints_are_gone_is_not_trained_over(tmp_path, capsys):
  """The committed results keep no checkpoints: a rerun into them is refused, not retrained."""
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  argv = ["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--epochs", 1, "--models",
          "plain", "--angles", 0]  # fmt: skip
  _run(argv)
  before = (tmp_path / "o" / "rotation_study.json").read_text()
  capsys.readouterr()
  with pytest.raises(SystemExit) as e:  # other angles: --eval-only re-evaluates
    _run([*argv, 90])
  err = capsys.readouterr().err
  assert e.value.code == 2 and "holds a rotation study evaluated otherwise (pass --eval-only" in err
  shutil.rmtree(tmp_path / "o" / "checkpoints")
  with pytest.raises(SystemExit) as e:
    _run(argv)
  err = capsys.readouterr().err
  assert e.value.code == 2 and "holds a rotation study whose plain checkpoints are gone" in err
  assert (tmp_path / "o" / "rotation_study.json").read_text() == before

"""`python -m hw2_jax padding-study`: outputs and schema, errors, resume, multi-device."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types

import jax
import numpy as np
import pytest

from hw2_jax import cli
from hw2_jax.core import flags, launch
from hw2_jax.padding import conv, study
from hw2_jax.padding.config import Config

SMALL = [
  "--rounds",
  "3",
  "--epochs",
  "2",
  "--num-train",
  "200",
  "--num-val",
  "100",
  "--num-test",
  "100",
  "--batch-size",
  "100",
  "--nets",
  "Net1",
  "--conv-types",
  "reflect",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
  jax.clear_caches()  # a fresh process's run, whatever this worker ran before: see its compiles
  out = tmp_path_factory.mktemp("padding")
  cli.main(["padding-study", *SMALL, "--out", str(out)])
  return out


def test_writes_the_four_files_with_the_schema(small_run):
  names = sorted(p.name for p in small_run.iterdir())
  assert names == [
    ".hw2_jax.json",
    ".hw2_jax.lock",
    "padding_study.csv",
    "padding_study.json",
    "padding_study.md",
    "padding_study.png",
  ]
  result = json.loads((small_run / "padding_study.json").read_text())
  assert set(result) == {"config", "device", "results", "compile"}
  # the initial state, the epoch step, the test: compiled, or loaded from the tests' cache
  assert result["compile"]["programs"] + result["compile"]["from_cache"] >= 2
  cfg = result["config"]
  assert (cfg["epochs"], cfg["patience"], cfg["batch_size"], cfg["precision"]) == (
    2,
    9,
    100,
    "fp32",
  )
  assert (cfg["num_train"], cfg["protocol"], cfg["seeds"]) == (200, "original", [0, 1, 2])
  entry = result["results"]["Net1"]["reflect"]
  assert set(entry) == {"val", "test", "epochs", "seconds"}
  assert len(entry["val"]) == len(entry["test"]) == len(entry["epochs"]) == 3
  assert all(0 <= a <= 100 for a in entry["val"] + entry["test"])
  csv_lines = (small_run / "padding_study.csv").read_text().splitlines()
  assert csv_lines[0] == "net,conv_type,round,val_acc,test_acc,epochs" and len(csv_lines) == 4
  md = (small_run / "padding_study.md").read_text()
  assert "## Net1" in md and "| reflect | test (shifted) |" in md
  assert (small_run / "padding_study.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_skips_finished_configurations(small_run, monkeypatch):
  """A rerun of a finished study trains and writes nothing, says so in one line and returns
  the study; every process has looked at --out (the barrier) before that."""
  before = json.loads((small_run / "padding_study.json").read_text())
  monkeypatch.setattr(study.train, "train_seeds", lambda *a, **k: pytest.fail("retrained"))
  monkeypatch.setattr(study.rundir, "write_outputs", lambda *a, **k: pytest.fail("wrote"))
  barriers, logs = [], []
  monkeypatch.setattr(study.devices, "barrier", barriers.append)
  args = cli.build_parser().parse_args(["padding-study", *SMALL, "--out", str(small_run)])
  got = study.train_and_evaluate(flags.from_args(Config, args), log=logs.append)
  assert got["results"] == before["results"] and barriers == ["padding-checked"]
  assert logs == [
    f"nothing to do: {small_run} already holds every configuration asked for "
    "(pass --overwrite to train them again)"
  ]


def test_a_run_returns_its_study_times_its_own_training_and_says_what_it_compiled(
  tmp_path, monkeypatch, record_managers
):
  """train_and_evaluate returns the study it wrote; a configuration's seconds are its own
  training's (here none: the training is faked); the last line counts the programs compiled;
  every checkpoint manager it opened is closed."""
  monkeypatch.setattr(study.train, "train_seeds", lambda *a, **k: _fake_result())
  logs, managers = [], record_managers()
  args = cli.build_parser().parse_args(["padding-study", *SMALL, "--out", str(tmp_path)])
  got = study.train_and_evaluate(flags.from_args(Config, args), log=logs.append)
  assert got == json.loads((tmp_path / "padding_study.json").read_text())
  assert 0 <= got["results"]["Net1"]["reflect"]["seconds"] < 0.5
  assert re.fullmatch(
    r"compiled \d+ programs in \d+ s \(\d+ from the compilation cache\)", logs[-1]
  )
  assert managers.made and managers.closed == managers.made


def test_paddings_of_one_width_train_with_the_same_programs_and_show_each_epoch(
  tmp_path, monkeypatch
):
  """reflect and circular both pad by 2: training circular after reflect builds (compiles, or
  loads from the compilation cache) no more programs (the padding's mode is data:
  make_net(..., shared=True)); the study JSON written after each configuration counts them.
  Each configuration's bar says it compiles, then counts its epochs with the mean validation
  accuracy and the seeds still training."""
  programs, write_outputs = [], study.rundir.write_outputs

  def counting(out, files, log):
    programs.append(json.loads(files["padding_study.json"])["compile"]["programs"])
    write_outputs(out, files, log)

  monkeypatch.setattr(study.rundir, "write_outputs", counting)
  jax.clear_caches()
  bars = _record_bars(monkeypatch)
  out = tmp_path / "out"
  cli.main(
    ["padding-study", *SMALL[:-1], "reflect", "circular", "--rounds", "1", "--out", str(out)]
  )
  assert programs[0] == programs[1] > 0
  study_json = json.loads((out / "padding_study.json").read_text())["results"]["Net1"]
  for bar, conv_type in ((1, "reflect"), (2, "circular")):
    assert (bar, "compiling, first epoch") in bars.texts
    shown = [kw for i, kw in bars.values if i == bar]
    assert bars.made[bar].n == len(shown) == study_json[conv_type]["epochs"][0] == 2
    assert shown[-1]["val_acc"] == f"{study_json[conv_type]['val'][0]:.1f}%"
    assert [kw["training"] for kw in shown] == ["1/1", "1/1"]
    seconds = study_json[conv_type]["seconds"]
    assert seconds == round(seconds, 1) > 0  # tenths of a second


def test_a_width_shares_its_net_only_with_other_paddings_of_that_width_in_the_run(
  tmp_path, monkeypatch
):
  """fconv and reflect pad by 2 and train with one net, the padding's mode as data; valid,
  alone at its width, and fconv in a study of its own get their own padding's net."""
  seen = []

  def record(model, recipe, splits, seeds, **kw):
    mode = kw["mode"]
    seen.append((model.conv_type, None if mode is None else int(mode)))
    return _fake_result()

  monkeypatch.setattr(study.train, "train_seeds", record)
  for k, conv_types in enumerate((["valid", "fconv", "reflect"], ["fconv"])):
    argv = ["padding-study", *SMALL[:-1], *conv_types, "--out", str(tmp_path / str(k))]
    study.train_and_evaluate(flags.from_args(Config, cli.build_parser().parse_args(argv)))
  shared = [(None, conv.mode_of("fconv")), (None, conv.mode_of("reflect"))]
  assert seen == [("valid", None), *shared, ("fconv", None)]


def test_without_out_a_study_goes_to_the_folder_its_settings_name(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(study.train, "train_seeds", lambda *a, **k: _fake_result())
  cli.main(["padding-study", *SMALL])
  args = cli.build_parser().parse_args(["padding-study", *SMALL])
  out = tmp_path / flags.from_args(Config, args).with_out().out
  assert out.parent.name == "runs" and out.name.startswith("padding-study-")
  assert json.loads((out / "padding_study.json").read_text())["results"]["Net1"]["reflect"]


@pytest.mark.parametrize(
  "args,message",
  [
    (["--nets", "Net3"], "unknown net 'Net3'; choose from: Net1, Net2"),
    (["--conv-types", "same"], "unknown conv type 'same'"),
    (["--rounds", "0"], "--seeds must be >= 1, got 0"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--precision", "fp16"], "argument --precision: invalid choice: 'fp16'"),
    (["--batch-size", "300"], "--batch-size 300 does not divide --num-train 2000"),
  ],
)
def test_bad_input_is_one_line_before_training(args, message, tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(study.train, "train_seeds", lambda *a, **k: pytest.fail("trained"))
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["padding-study", *args, "--out", str(tmp_path)])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert message in err and err.count("\n") == 1


def test_unwritable_output_directory(tmp_path, capsys):
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(SystemExit):
    cli.main(["padding-study", "--out", str(blocker / "sub")])
  assert "is not a writable folder" in capsys.readouterr().err


def test_multi_device_run_equals_single_device(small_run, tmp_path):
  env = launch.child_env(
    dict(
      os.environ, HW2_JAX_NO_COMPILE_CACHE="", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache")
    ),
    4,
  )
  subprocess.run(
    [sys.executable, "-m", "hw2_jax", "padding-study", *SMALL, "--out", str(tmp_path)],
    env=env,
    check=True,
    capture_output=True,
  )
  # The entry point turns JAX's compilation cache on: the epoch step was written to it.
  assert list((tmp_path / "cache").glob("jit_epoch_step-*"))
  multi = json.loads((tmp_path / "padding_study.json").read_text())
  single = json.loads((small_run / "padding_study.json").read_text())
  assert multi["device"].startswith("4 x")
  for key in ("val", "test", "epochs"):
    assert multi["results"]["Net1"]["reflect"][key] == single["results"]["Net1"]["reflect"][key]


def test_default_output_is_under_runs_and_named_by_the_settings_that_differ():
  assert study.Config().with_out().out == "runs/padding-study"
  small = study.Config(seeds=2, epochs=3, conv_types=("valid", "fconv")).with_out()
  assert small.out == "runs/padding-study-seeds-2_epochs-3"  # the subset of paddings merges
  assert study.Config(out="x", seeds=2).with_out().out == "x"


def test_same_settings_merge_other_settings_refused_overwrite_replaces(
  small_run, tmp_path, capsys, monkeypatch
):
  out = tmp_path / "merge"
  shutil.copytree(small_run, out)
  trained = []

  def fake_train(model, *a, mode, **k):
    trained.append(model.conv_type if mode is None else conv.MODES[int(mode)])
    return _fake_result()

  monkeypatch.setattr(study.train, "train_seeds", fake_train)
  before = json.loads((out / "padding_study.json").read_text())["results"]["Net1"]["reflect"]
  # same settings, one configuration more: the kept one is not retrained
  cli.main(["padding-study", *SMALL[:-1], "reflect", "valid", "--out", str(out)])
  assert trained == ["valid"]
  merged = json.loads((out / "padding_study.json").read_text())
  assert merged["results"]["Net1"]["reflect"] == before
  assert set(merged["results"]["Net1"]) == {"reflect", "valid"}
  assert merged["config"]["conv_types"] == ["valid", "reflect"]
  assert "keeping the 1 already there" in capsys.readouterr().out
  # other settings: refused in one line, nothing changed
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", *SMALL, "--epochs", "3", "--out", str(out)])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.count("\n") == 1
  assert "--epochs 2 there, 3 here" in err and "--overwrite" in err and "--out" in err
  assert "--resume" not in err  # it would be refused the same way
  assert json.loads((out / "padding_study.json").read_text()) == merged
  # --overwrite replaces the study
  cli.main(["padding-study", *SMALL, "--epochs", "3", "--out", str(out), "--overwrite"])
  replaced = json.loads((out / "padding_study.json").read_text())
  assert replaced["config"]["epochs"] == 3 and list(replaced["results"]["Net1"]) == ["reflect"]


def _fake_result():
  from hw2_jax.padding.train import SeedsResult

  n = 3
  return SeedsResult(np.full(n, 50.0), np.full(n, 50.0), np.full(n, 2), np.zeros(n, bool))


def test_truncated_study_file_is_one_line(small_run, tmp_path, capsys):
  out = tmp_path / "torn"
  shutil.copytree(small_run, out)
  path = out / "padding_study.json"
  path.write_text(path.read_text()[:40])
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", *SMALL, "--out", str(out), "--resume"])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.count("\n") == 1 and "is damaged" in err


def _stopped_in_the_second_configuration(monkeypatch, capsys, out, stop) -> str:
  """A study of two configurations whose first is trained (faked) and whose second raises
  stop(train_seeds' keyword arguments): the one-line error it exits with (code 130)."""
  calls = []

  def train_seeds(*a, **k):
    if calls:
      raise stop(k)
    calls.append(1)
    return _fake_result()

  monkeypatch.setattr(study.train, "train_seeds", train_seeds)
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", *SMALL[:-1], "reflect", "valid", "--out", str(out)])
  err = capsys.readouterr().err
  assert e.value.code == 130 and err.count("\n") == 1, err
  return err


def test_ctrl_c_says_what_was_kept_in_one_line(tmp_path, capsys, monkeypatch):
  err = _stopped_in_the_second_configuration(
    monkeypatch, capsys, tmp_path, lambda _: KeyboardInterrupt()
  )
  assert f"interrupted: {tmp_path} keeps 1 of 2 configurations" in err
  assert "run the same command" in err
  assert list(json.loads((tmp_path / "padding_study.json").read_text())["results"]["Net1"]) == [
    "reflect"
  ]


def _record_bars(monkeypatch):
  """The study's progress bars made from here on: their settings, their set_postfix_str texts
  and set_postfix values as (bar, ...), and their counts (bar.n, also for a hidden bar)."""
  bars = types.SimpleNamespace(settings=[], made=[], texts=[], values=[])
  real_tqdm = study.tqdm

  def tqdm(**kw):
    i, bar = len(bars.made), real_tqdm(**kw)
    bars.settings.append(kw)
    bars.made.append(bar)
    bar.set_postfix_str = lambda text, **_: bars.texts.append((i, text))
    bar.set_postfix = lambda **kw: bars.values.append((i, kw))
    bar.update = lambda n=1: setattr(bar, "n", bar.n + n)
    return bar

  monkeypatch.setattr(study, "tqdm", tqdm)
  return bars


def test_a_stop_names_what_is_kept_and_the_bars_count_configurations_and_epochs(
  tmp_path, capsys, monkeypatch
):
  """A stop asked during the second of two configurations (train.Stopped, as Ctrl-C or SIGTERM
  at the end of an epoch): one line with the configurations kept of all, the one saved and its
  epoch. The study's bar counts configurations on the first line and names the one in training;
  each configuration's bar counts its epochs on the second line and goes when it is done; all
  resize with the terminal and show on the main process."""
  bars = _record_bars(monkeypatch)
  finite = lambda k: jax.tree.map(np.nan_to_num, k["state"])  # a state a checkpoint takes
  err = _stopped_in_the_second_configuration(
    monkeypatch, capsys, tmp_path, lambda k: study.train.Stopped(1, finite(k))
  )
  assert f"): {tmp_path} keeps 1 of 2 configurations, and Net1 valid saved after epoch 1 of " in err
  assert (tmp_path / "checkpoints" / "Net1-valid" / "1").is_dir()  # saved now, not in 60 s
  shown_on = dict(dynamic_ncols=True, disable=None)
  epochs = dict(total=2, initial=0, unit="epoch", position=1, leave=False, **shown_on)
  assert bars.settings == [
    dict(total=2, desc=f"study -> {tmp_path}", unit="config", position=0, **shown_on),
    dict(desc="Net1 reflect  ", **epochs),
    dict(desc="Net1 valid    ", **epochs),
  ]
  assert [text for bar, text in bars.texts if bar == 0] == [
    "configuration 1 of 2: Net1 reflect",
    "configuration 2 of 2: Net1 valid",
  ]
  assert bars.made[0].n == 1


def test_sizes_that_cannot_fit_are_refused_before_work(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(study.train, "train_seeds", lambda *a, **k: pytest.fail("trained"))
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", "--seeds", "100000", "--out", str(tmp_path)])
  err = capsys.readouterr().err
  assert e.value.code == 2 and "--seeds 100000" in err and "GB" in err and err.count("\n") == 1
  assert not list(tmp_path.iterdir())


KILLED = ["--seeds", "2", "--epochs", "8", "--num-train", "200", "--num-val", "100",
          "--num-test", "100", "--batch-size", "100", "--nets", "Net2", "--conv-types",
          "circular", "--checkpoint-every-s", "0"]  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_a_process_stopped_mid_configuration_continues_with_the_same_numbers(
  tmp_path, capsys, signum
):
  """A real process stopped after epoch 2 of 8 (killed outright, or Ctrl-C: which finishes the
  epoch and saves), then the same command: the numbers of an uninterrupted run, bit for bit."""
  out = tmp_path / "stopped"
  cmd = [sys.executable, "-m", "hw2_jax", "padding-study", *KILLED, "--out", str(out)]
  env = dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1")
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  saved = out / "checkpoints" / "Net2-circular"
  deadline = time.monotonic() + 300
  while not (saved / "2").is_dir() and proc.poll() is None and time.monotonic() < deadline:
    time.sleep(0.05)
  proc.send_signal(signum)
  _, err = proc.communicate(timeout=120)
  assert not (out / "padding_study.json").exists(), "finished before the stop"
  if signum == signal.SIGINT:
    assert proc.returncode == 130 and "saved after epoch" in err, err
    assert len([p for p in saved.iterdir() if p.name.isdigit()]) == 1  # only the last save kept
  else:
    _a_study_known_only_from_its_checkpoint_is_refused_or_overwritten(out, tmp_path / "other")
  capsys.readouterr()
  cli.main(["padding-study", *KILLED, "--out", str(out)])
  assert "Net2 circular: continuing from epoch " in capsys.readouterr().out
  cli.main(["padding-study", *KILLED, "--out", str(tmp_path / "whole")])
  got, want = (json.loads((d / "padding_study.json").read_text())["results"]["Net2"]["circular"]
               for d in (out, tmp_path / "whole"))  # fmt: skip
  for key in ("val", "test", "epochs"):
    assert got[key] == want[key], key
  assert not saved.exists()  # a finished configuration's checkpoint is removed


def test_a_shared_width_stopped_in_its_last_padding_continues_alone_with_the_same_numbers(
  tmp_path, capsys, monkeypatch
):
  """fconv and circular train with one net (the mode as data); stopped in circular after epoch
  2, the same command has circular alone to train, so it continues with circular's own net from
  the shared net's save: the numbers of an uninterrupted study, bit for bit."""
  argv = ["padding-study", *KILLED[:-3], "fconv", "circular", "--checkpoint-every-s", "0"]
  cli.main([*argv, "--out", str(tmp_path / "whole")])
  stop = types.SimpleNamespace(name="test", asked=0, running=lambda seconds: None)
  stop.requested = lambda sync: setattr(stop, "asked", stop.asked + 1) or stop.asked == 2
  real, nets = study.train.train_seeds, []

  def train_seeds(model, *a, **k):
    nets.append(model.conv_type)
    return real(model, *a, **{**k, "stop": stop if nets == [None, None] else k["stop"]})

  monkeypatch.setattr(study.train, "train_seeds", train_seeds)
  with pytest.raises(SystemExit) as e:
    cli.main([*argv, "--out", str(tmp_path / "stopped")])
  assert e.value.code == 130 and "circular saved after epoch 2" in capsys.readouterr().err
  cli.main([*argv, "--out", str(tmp_path / "stopped")])
  assert "Net2 circular: continuing from epoch 2" in capsys.readouterr().out
  assert nets == [None, None, "circular"]  # shared twice, then circular's own net
  got, want = (json.loads((tmp_path / d / "padding_study.json").read_text())["results"]["Net2"]
               for d in ("stopped", "whole"))  # fmt: skip
  assert got["circular"]["epochs"] == [8, 8]
  for key in ("val", "test", "epochs"):
    assert got["circular"][key] == want["circular"][key], key


def _a_study_known_only_from_its_checkpoint_is_refused_or_overwritten(stopped, other):
  """Before its first configuration is done, a study's settings are in the checkpoint of the
  one in training: other settings are refused, and --overwrite removes that checkpoint."""
  shutil.copytree(stopped, other)
  epochs = KILLED.index("--epochs") + 1
  changed = [*KILLED[:epochs], "9", *KILLED[epochs + 1 :]]
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", *changed, "--out", str(other)])
  assert e.value.code == 2
  assert (other / "checkpoints" / "Net2-circular").is_dir()
  cli.main(["padding-study", *changed[:-3], "valid", "--epochs", "1", "--overwrite",
            "--out", str(other)])  # fmt: skip
  assert not (other / "checkpoints" / "Net2-circular").exists()
  assert list(json.loads((other / "padding_study.json").read_text())["results"]["Net2"]) == [
    "valid"
  ]


@pytest.mark.parametrize(
  "content,problem",
  [("[]", "should be an object, not list"), (None, "results.Net1.reflect.test is missing")],
)
def test_a_study_file_of_the_wrong_shape_is_one_line(small_run, tmp_path, capsys, content, problem):
  out = tmp_path / "shape"
  shutil.copytree(small_run, out)
  path = out / "padding_study.json"
  if content is None:  # valid JSON, an entry without "test"
    study = json.loads(path.read_text())
    del study["results"]["Net1"]["reflect"]["test"]
    content = json.dumps(study)
  path.write_text(content)
  with pytest.raises(SystemExit) as e:
    cli.main(["padding-study", *SMALL, "--out", str(out)])
  err = capsys.readouterr().err
  assert e.value.code == 2 and err.count("\n") == 1 and problem in err, err


def test_a_rerun_repairs_missing_outputs_without_training(small_run, tmp_path, monkeypatch):
  """A figure that could not be written (a full disk) is drawn again by the next run."""
  out = tmp_path / "repair"
  shutil.copytree(small_run, out)
  (out / "padding_study.png").unlink()
  monkeypatch.setattr(study.train, "train_seeds", lambda *a, **k: pytest.fail("trained"))
  cli.main(["padding-study", *SMALL, "--out", str(out)])
  assert (out / "padding_study.png").read_bytes()[:4] == b"\x89PNG"
  assert (out / "padding_study.json").read_text() == (small_run / "padding_study.json").read_text()

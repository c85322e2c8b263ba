"""`python -m hw2_jax padding-study`: outputs and schema, errors, resume, multi-device."""

import json
import os
import subprocess
import sys

import pytest

from hw2_jax import cli
from hw2_jax.padding import study

SMALL = ["--rounds", "3", "--epochs", "2", "--num-train", "200", "--num-val", "100",
         "--num-test", "100", "--batch-size", "100", "--nets", "Net1", "--conv-types", "reflect"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("padding")
  cli.main(["padding-study", *SMALL, "--out", str(out)])
  return out


def test_writes_the_four_files_with_the_schema(small_run):
  names = sorted(p.name for p in small_run.iterdir())
  assert names == [".hw2_jax.lock", "padding_study.csv", "padding_study.json",
                   "padding_study.md", "padding_study.png"]
  result = json.loads((small_run / "padding_study.json").read_text())
  assert set(result) == {"config", "device", "results"}
  cfg = result["config"]
  assert (cfg["epochs"], cfg["patience"], cfg["batch_size"], cfg["precision"]) == (2, 9, 100,
                                                                                    "fp32")
  assert (cfg["num_train"], cfg["independent_val"], cfg["seeds"]) == (200, False, [0, 1, 2])
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
  before = json.loads((small_run / "padding_study.json").read_text())
  monkeypatch.setattr(study, "train_seeds", lambda *a, **k: pytest.fail("retrained"))
  cli.main(["padding-study", *SMALL, "--out", str(small_run), "--resume"])
  assert json.loads((small_run / "padding_study.json").read_text())["results"] == before["results"]


@pytest.mark.parametrize("args,message", [
    (["--nets", "Net3"], "unknown net 'Net3'; choose from: Net1, Net2"),
    (["--conv-types", "same"], "unknown conv type 'same'"),
    (["--rounds", "0"], "--seeds must be >= 1, got 0"),
    (["--batch-size", "300"], "--batch-size 300 does not divide --num-train 2000"),
])
def test_bad_input_is_one_line_before_training(args, message, tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(study, "train_seeds", lambda *a, **k: pytest.fail("trained"))
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
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             HW2_JAX_NO_COMPILE_CACHE="",
             JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"))
  subprocess.run([sys.executable, "-m", "hw2_jax", "padding-study", *SMALL, "--out",
                  str(tmp_path)], env=env, check=True, capture_output=True)
  # The entry point turns JAX's compilation cache on: the epoch step was written to it.
  assert list((tmp_path / "cache").glob("jit_epoch_step-*"))
  multi = json.loads((tmp_path / "padding_study.json").read_text())
  single = json.loads((small_run / "padding_study.json").read_text())
  assert multi["device"].startswith("4 x")
  for key in ("val", "test", "epochs"):
    assert multi["results"]["Net1"]["reflect"][key] == single["results"]["Net1"]["reflect"][key]

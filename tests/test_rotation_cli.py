"""End to end through the CLI on a generated image folder and on mocked tfds data."""

import json

import numpy as np
import pytest

from hw2_jax.cli import main
from hw2_jax.rotation import study
from hw2_jax.rotation.config import Config
from test_rotation_data import make_folder  # pylint: disable=import-error

OUTPUTS = ("rotation_study.json", "rotation_study.md", "rotation_study.png",
           "samples_plain.png", "samples_augmented.png")


def _run(argv):
  main(["rotation-study"] + [str(a) for a in argv])


def test_folder_run_writes_every_output_then_eval_only(tmp_path):
  make_folder(tmp_path / "d", classes=("cat", "ship", "frog"), per_class=4)
  out = tmp_path / "out"
  _run(["--data-dir", tmp_path / "d", "--out", out, "--epochs", 2, "--seeds", 2,
        "--batch-size", 5, "--angles", 0, 90, 180])
  for name in OUTPUTS:
    assert (out / name).stat().st_size > 0, name
  result = json.loads((out / "rotation_study.json").read_text())
  assert result["angles"] == [0, 90, 180]
  assert result["config"]["seeds"] == 2 and result["config"]["epochs"] == 2
  assert set(result["models"]) == {"plain", "augmented"}
  for m in result["models"].values():
    acc = np.asarray(m["accuracy_per_seed"])
    assert acc.shape == (2, 3) and np.all((acc >= 0) & (acc <= 100))
    np.testing.assert_allclose(m["accuracy"], acc.mean(0), atol=1e-3)
    assert len(m["train_loss_per_epoch"]) == 2
  table = (out / "rotation_study.md").read_text()
  assert table.count("\n|") >= 4 and "±" in table
  assert (out / "checkpoints" / "plain").is_dir() and (out / "checkpoints" / "augmented").is_dir()

  again = tmp_path / "again"
  _run(["--data-dir", tmp_path / "d", "--out", again, "--checkpoint-dir", out / "checkpoints",
        "--eval-only", "--angles", 0, 45])
  redo = json.loads((again / "rotation_study.json").read_text())
  assert redo["angles"] == [0, 45] and redo["config"]["eval_only"]
  for name in ("plain", "augmented"):
    assert redo["models"][name]["accuracy_per_seed"][0][0] == \
        result["models"][name]["accuracy_per_seed"][0][0]


def test_tfds_mock_run(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=10):
    _run(["--out", tmp_path, "--epochs", 1, "--models", "augmented", "--angles", 0, 30])
  result = json.loads((tmp_path / "rotation_study.json").read_text())
  assert result["config"]["data"] == "tfds" and list(result["models"]) == ["augmented"]
  assert len(result["models"]["augmented"]["accuracy"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["--epochs", 0], "--epochs must be >= 1"),
    (["--seeds", 0], "--seeds must be >= 1"),
    (["--models", "rotated"], "unknown model 'rotated'"),
    (["--eval-only", "--data-dir", "nowhere"], "no checkpoint of the plain model"),
    (["--data-dir", "nowhere"], "not found"),
    (["--angles", "0", "nan"], "--angles must be finite numbers of degrees, got nan"),
    (["--angles", "inf"], "got inf"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number > 0"),
])
def test_bad_input_is_one_line_error(tmp_path, capsys, argv, message):
  with pytest.raises(SystemExit) as e:
    _run(argv + ["--out", tmp_path / "o", "--checkpoint-dir", tmp_path / "c"])
  assert e.value.code == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: ") and message in err and "\n" not in err


def _json(out):
  return json.loads((out / "rotation_study.json").read_text())


def test_reruns_reuse_refuse_or_overwrite_the_trained_models(tmp_path, capsys, monkeypatch):
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=3)
  out = tmp_path / "out"
  base = ["--data-dir", tmp_path / "d", "--out", out, "--epochs", 1, "--batch-size", 4,
          "--angles", 0, 90]
  _run(base + ["--models", "plain"])
  first = _json(out)
  assert Config().out == "runs/rotation-study"
  # the same settings and another model: plain is restored, not trained again
  trained = []
  real = study.train_model
  monkeypatch.setattr(study, "train_model",
                      lambda cfg, name, *a, **k: trained.append(name) or real(cfg, name, *a, **k))
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
  # --overwrite retrains and replaces the checkpoints
  _run(base + ["--learning-rate", 0.01, "--seed", 5, "--overwrite"])
  meta = study.checkpoint.restore_meta(study._manager(
      study.Config(out=str(out)), "plain"))
  assert meta["config"]["learning_rate"] == 0.01 and meta["config"]["seed"] == 5
  assert _json(out)["config"]["learning_rate"] == 0.01
  # --eval-only records the checkpoints' settings, not the flags' defaults
  again = tmp_path / "again"
  _run(["--data-dir", tmp_path / "d", "--out", again, "--checkpoint-dir", out / "checkpoints",
        "--eval-only", "--angles", 45])
  cfg = _json(again)["config"]
  assert (cfg["epochs"], cfg["learning_rate"], cfg["seed"], cfg["batch_size"]) == (1, 0.01, 5, 4)


def test_ctrl_c_says_what_was_kept_in_one_line(tmp_path, capsys, monkeypatch):
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  monkeypatch.setattr(study, "train_model", lambda *a, **k: (_ for _ in ()).throw(
      KeyboardInterrupt))
  with pytest.raises(SystemExit) as e:
    _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o"])
  err = capsys.readouterr().err
  assert e.value.code == 130 and err.count("\n") == 1
  assert "interrupted: no model finished training; run the same command again" in err


def test_batch_larger_than_the_data_is_clamped_with_a_message(tmp_path, capsys):
  make_folder(tmp_path / "d", classes=("cat", "ship"), per_class=2)
  _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--epochs", 1, "--batch-size",
        10**6, "--models", "plain", "--angles", 0])
  assert "--batch-size 1000000 is more than the 4 training images; training on batches of 4" \
      in capsys.readouterr().out
  assert _json(tmp_path / "o")["config"]["batch_size"] == 4


def test_help_says_what_the_limits_do_and_each_default_once(capsys):
  with pytest.raises(SystemExit):
    main(["rotation-study", "--help"])
  text = " ".join(capsys.readouterr().out.split())
  assert "--train-limit N train on a fixed random subset of N training images" in text
  assert "(default: None)" not in text and "default: 10) (default" not in text


def test_unwritable_checkpoint_dir_names_its_flag(tmp_path, capsys):
  (tmp_path / "file").write_text("")
  with pytest.raises(SystemExit):
    _run(["--data-dir", tmp_path / "d", "--out", tmp_path / "o", "--checkpoint-dir",
          tmp_path / "file" / "c"])
  err = capsys.readouterr().err
  assert "--checkpoint-dir" in err and "pass a writable one with --checkpoint-dir" in err

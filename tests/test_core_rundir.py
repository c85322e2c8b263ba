"""Output folders: one run at a time (a real second process is refused with the first's pid),
a killed run's lock does not block, a folder of another command is refused, settings that
differ are named, outputs are written as one unit, and a run's default folder is named by the
settings that differ."""

import contextlib
import errno
import gc
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from etils import epath

from hw2_jax.core import rundir
from hw2_jax.core.errors import ConfigError, RunError

ROOT = Path(__file__).parents[1]


def test_a_second_run_into_a_claimed_folder_is_refused_with_the_owner_pid(tmp_path):
  out = tmp_path / "out"
  with rundir.claim(out, "padding-study"):
    r = subprocess.run(
      [
        sys.executable,
        "-m",
        "hw2_jax",
        "padding-study",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(out),
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=120,
      env=dict(os.environ, HW2_JAX_SYSTEM_MALLOC="1"),
    )
  assert r.returncode == 2, r.stderr
  assert f"is in use by another run (process {os.getpid()})" in r.stderr
  assert r.stderr.count("\n") == 1 and not (out / "padding_study.json").exists()
  with rundir.claim(out, "padding-study"):  # released when the first run ended
    pass


def test_a_killed_runs_lock_does_not_block(tmp_path):
  out = tmp_path / "out"
  holder = subprocess.Popen(  # takes the lock, then is killed without releasing it
    [
      sys.executable,
      "-c",
      "import sys, time; from hw2_jax.core import rundir\n"
      f"with rundir.claim({str(out)!r}, 'padding-study'):\n  print('held', flush=True); time.sleep(60)",
    ],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    text=True,
  )
  assert holder.stdout.readline().strip() == "held"
  with pytest.raises(ConfigError, match=f"process {holder.pid}"):
    with rundir.claim(out, "padding-study"):
      pass
  holder.kill()
  holder.wait()
  with rundir.claim(out, "padding-study"):
    assert (out / rundir.LOCK_NAME).read_text().strip() == str(os.getpid())


def test_refusals_name_what_differs_and_the_ways_out_that_work(tmp_path):
  diffs = rundir.settings_diff({"seeds": 10, "epochs": 50, "lr": 1.0},
                               {"seeds": 2, "epochs": 50, "lr": 0.5}, ["seeds", "epochs", "lr"],
                               {"lr": "the rate"})  # fmt: skip
  assert diffs == ["--seeds 2 there, 10 here", "the rate 0.5 there, 1.0 here"]
  with pytest.raises(ConfigError) as e:
    rundir.refuse(tmp_path, "a study", diffs)
  said = str(e.value)
  assert "with other settings (--seeds 2 there, 10 here; the rate" in said
  assert "--overwrite" in said and "another --out" in said and "--resume" not in said
  with pytest.raises(ConfigError, match="pass --resume to continue it, --overwrite"):
    rundir.refuse(tmp_path, "a run", resume="--resume")
  with pytest.raises(ConfigError, match="holds a study; pass --overwrite to replace it, or"):
    rundir.refuse(tmp_path, "a study")  # no --resume to offer, nothing differs
  (tmp_path / "padding_step.json").write_text("{}")
  with pytest.raises(ConfigError, match="padding_step.json from an earlier run.*--overwrite"):
    rundir.check_new_files(tmp_path, ["padding_step.json"], overwrite=False)
  rundir.check_new_files(tmp_path, ["padding_step.json"], overwrite=True)


def test_a_folder_of_another_command_is_refused(tmp_path):
  with rundir.claim(tmp_path / "a", "rotation-study"):
    pass
  assert rundir.owner(tmp_path / "a") == "rotation-study"
  with pytest.raises(ConfigError, match="holds the outputs of rotation-study, not gpt-train"):
    with rundir.claim(tmp_path / "a", "gpt-train"):
      pass
  (tmp_path / "old").mkdir()  # written before the marker: known by its result file
  (tmp_path / "old" / "padding_study.json").write_text("{}")
  with pytest.raises(ConfigError, match="outputs of padding-study"):
    with rundir.claim(tmp_path / "old", "gpt-train"):
      pass
  with rundir.claim(tmp_path / "old", "padding-study"):
    pass


def test_outputs_are_written_as_one_unit(tmp_path, monkeypatch):
  out = tmp_path / "out"
  out.mkdir()
  rundir.write_outputs(out, {"a.json": b"old a", "b.png": b"old b"}, log=lambda *_: None)
  real_fsync, calls = os.fsync, []

  def fail_second(fd):
    calls.append(fd)
    if len(calls) == 2:
      raise OSError(errno.ENOSPC, "No space left on device")
    real_fsync(fd)

  monkeypatch.setattr(os, "fsync", fail_second)
  with pytest.raises(RunError, match=r"no space left in .*out.*need about 12 bytes"):
    rundir.write_outputs(out, {"a.json": b"new a!", "b.png": b"new b!"}, log=lambda *_: None)
  assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.png"]  # no temporary left
  assert (out / "a.json").read_bytes() == b"old a" and (out / "b.png").read_bytes() == b"old b"
  monkeypatch.setattr(os, "fsync", real_fsync)
  monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10, 10, 5))
  with pytest.raises(RunError, match="no space left"):
    rundir.write_outputs(out, {"a.json": b"new a!"}, log=lambda *_: None)
  monkeypatch.undo()
  said = []
  rundir.write_outputs(out, {"a.json": b"new a", "b.png": b"new b"}, log=said.append)
  assert (out / "a.json").read_bytes() == b"new a" and said == [f"wrote {out}/{{a.json,b.png}}"]
  new = tmp_path / "new" / "sub"
  rundir.write_outputs(new, {"c.md": b"c"}, log=said.append)  # the folder is made
  assert (new / "c.md").read_bytes() == b"c" and said[-1] == f"wrote {new}/c.md"


def test_outputs_go_through_hidden_temporaries_beside_them_and_may_fill_the_disk(
  tmp_path, monkeypatch
):
  """Each file is written to `.NAME.*.tmp` in the folder itself (a rename within one file
  system is atomic), and a write that needs exactly the free space goes ahead."""
  real_replace, moved = os.replace, []
  monkeypatch.setattr(os, "replace", lambda a, b: (moved.append((a, b)), real_replace(a, b)))
  monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10, 5, 5))
  rundir.write_outputs(tmp_path, {"a.json": b"12", "b.md": b"345"}, log=lambda *_: None)
  assert [Path(b).name for _, b in moved] == ["a.json", "b.md"]
  for (src, _), name in zip(moved, ["a.json", "b.md"]):
    a = Path(src)
    assert a.parent == tmp_path and a.name.startswith(f".{name}.") and a.suffix == ".tmp"


def test_each_file_is_on_disk_before_its_rename_with_the_modes_of_a_plain_write(
  tmp_path, monkeypatch
):
  """fsync sees every byte (flushed from Python's buffer first), and the files get the modes
  open() would give them under the umask (mkstemp's own are 0o600)."""
  real_fsync, synced = os.fsync, []
  monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_size), real_fsync(fd)))
  old = os.umask(0o022)
  try:
    rundir.write_outputs(tmp_path, {"a.json": b"12", "b.md": b"345"}, log=lambda *_: None)
  finally:
    os.umask(old)
  assert synced == [2, 3]
  assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
    "a.json": 0o644, "b.md": 0o644
  }  # fmt: skip


def test_the_default_folder_is_named_by_the_settings_that_differ():
  keys = ["seeds", "epochs", "data_dir"]
  base = {"seeds": 10, "epochs": 50, "data_dir": None}
  assert rundir.default_out("runs/x", base, base, keys) == "runs/x"
  assert rundir.default_out("runs/x", {**base, "seeds": 2, "epochs": 3}, base, keys) == (
    "runs/x-seeds-2_epochs-3"
  )
  odd = rundir.default_out("runs/x", {**base, "data_dir": "/a b/c"}, base, keys)
  assert odd.startswith("runs/x-settings-") and len(odd) == len("runs/x-settings-") + 8
  as_path = rundir.default_out("runs/x", {**base, "data_dir": Path("/a b/c")}, base, keys)
  assert as_path == odd  # a value JSON cannot hold is named by its text


def test_remove_deletes_only_the_named_outputs(tmp_path):
  (tmp_path / "checkpoints" / "plain").mkdir(parents=True)
  (tmp_path / "a.json").write_text("{}")
  (tmp_path / "mine.txt").write_text("keep")
  rundir.remove(tmp_path, ["checkpoints", "a.json", "absent.png"])
  assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_full_disk_at_the_lock_is_one_line(tmp_path, monkeypatch):
  real_open = open

  def full(path, *a, **k):
    if str(path).endswith(rundir.LOCK_NAME):
      raise OSError(errno.ENOSPC, "No space left on device")
    return real_open(path, *a, **k)

  monkeypatch.setattr("builtins.open", full)
  with pytest.raises(ConfigError, match="cannot hold its lock file.*free some space"):
    with rundir.claim(tmp_path / "out", "padding-study"):
      pass


@contextlib.contextmanager
def _no_file_left_open():
  """Fails when a file opened in the block is left for the garbage collector to close (the
  ResourceWarning it then gives)."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    yield
    gc.collect()
  assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_refused_second_claim_in_one_process_closes_its_lock_file(tmp_path):
  """flock conflicts between two opens of the file even in one process: the refused one is
  closed at once, not left for the garbage collector (a ResourceWarning)."""
  with rundir.claim(tmp_path, "padding-study"):
    with _no_file_left_open():
      with pytest.raises(ConfigError, match="is in use by another run"):
        with rundir.claim(tmp_path, "padding-study"):
          pass


def test_a_claim_closes_its_lock_file_when_it_ends(tmp_path):
  with _no_file_left_open():
    with rundir.claim(tmp_path, "padding-study"):
      pass


def test_the_owner_of_a_folder_given_as_a_string(tmp_path):
  with rundir.claim(tmp_path, "rotation-study"):
    pass
  assert rundir.owner(str(tmp_path)) == rundir.owner(tmp_path) == "rotation-study"
  (tmp_path / "old").mkdir()
  (tmp_path / "old" / "metrics.jsonl").write_text("")  # an older folder, without the marker
  assert rundir.owner(str(tmp_path / "old")) == "gpt-train"


def test_settings_diff_shows_a_list_as_typed_and_names_of_exactly_60_characters_stay():
  assert rundir.settings_diff({"angles": [0, 90]}, {"angles": [0]}, ["angles"]) == [
    "--angles 0 there, 0 90 here"
  ]
  keys, base = ["data_dir"], {"data_dir": None}
  for length, literal in ((60, True), (61, False)):
    value = "d" * (length - len("data-dir-"))
    name = rundir.default_out("x", {"data_dir": value}, base, keys)
    assert (name == f"x-data-dir-{value}") == literal, length


def test_a_marker_that_cannot_be_written_is_one_line_and_other_errors_say_theirs(
  tmp_path, monkeypatch
):
  def full(*_):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(rundir.io, "write_json", full)
  with pytest.raises(RunError, match=r"no space left in .*: its outputs need about 100 bytes"):
    with rundir.claim(tmp_path / "a", "padding-study"):
      pass
  error = rundir.no_space(tmp_path, OSError(errno.EACCES, "Permission denied"), 5)
  assert isinstance(error, RunError)
  assert str(error) == f"cannot write in {str(tmp_path)!r} (Permission denied)."


def test_processes_other_than_the_first_neither_lock_nor_write(tmp_path, monkeypatch):
  """In a multi-process run only process 0 writes: the others get the folder's path, take no
  lock and write no file."""
  monkeypatch.setattr(rundir.jax, "process_index", lambda: 1)
  out = tmp_path / "not-made"
  assert rundir.check_writable(str(out)) == out and not out.exists()
  with rundir.claim(out, "padding-study") as got:
    assert got == out and not out.exists()
  rundir.write_outputs(out, {"a.json": b"1"}, log=lambda *_: None)
  assert not out.exists()


def test_outputs_to_a_uri_are_written_file_by_file(tmp_path, monkeypatch):
  """A bucket has no atomic rename: each file is written in place (here a local folder stands
  in for the bucket)."""
  monkeypatch.setattr(rundir.io, "is_uri", lambda _: True)
  monkeypatch.setattr(rundir.io, "as_path", Path)
  said = []
  rundir.write_outputs(tmp_path, {"a.json": b"1", "b.md": b"22"}, log=said.append)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]
  assert (tmp_path / "b.md").read_bytes() == b"22" and said == [f"wrote {tmp_path}/{{a.json,b.md}}"]


def test_removing_a_folder_of_a_uri_goes_through_epath(tmp_path, monkeypatch):
  """A bucket's folder is removed with epath's rmtree (shutil cannot reach it); files and the
  names not asked for are handled as locally (a local epath folder stands in for the bucket)."""
  monkeypatch.setattr(rundir.io, "is_uri", lambda _: True)
  monkeypatch.setattr(rundir.io, "as_path", epath.Path)
  removed = []
  kind = type(epath.Path(tmp_path))
  real = kind.rmtree
  monkeypatch.setattr(kind, "rmtree", lambda self, **kw: removed.append(self) or real(self, **kw))
  (tmp_path / "checkpoints" / "a").mkdir(parents=True)
  (tmp_path / "study.json").write_text("{}")
  (tmp_path / "notes.txt").write_text("kept")
  rundir.remove(tmp_path, ["checkpoints", "study.json", "absent.md"])
  assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
  assert [p.name for p in removed] == ["checkpoints"]

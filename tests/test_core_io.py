"""Result files: atomic writes, a torn last JSON line skipped, damaged JSON one line."""

import json

import pytest

from hw2_jax.core import io
from hw2_jax.core.errors import ConfigError


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
  path = tmp_path / "r.json"
  io.write_json(path, {"a": 1})
  with pytest.raises(RuntimeError):
    with io.atomic_open(path) as f:
      f.write(b"{half")
      raise RuntimeError("killed")
  assert json.loads(path.read_text()) == {"a": 1}
  assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left


def test_torn_last_line_is_skipped_with_a_warning_and_a_damaged_middle_refused(tmp_path):
  path = tmp_path / "m.jsonl"
  path.write_text('{"step": 1}\n{"step": 2}\n{"ste')
  warnings = []
  assert io.read_jsonl(path, warnings.append) == [{"step": 1}, {"step": 2}]
  assert "torn last line" in warnings[0]
  path.write_text('{"step": 1}\n{"ste\n{"step": 3}\n')
  with pytest.raises(ConfigError, match="line 2"):
    io.read_jsonl(path)


def test_damaged_json_is_one_line_naming_the_fix(tmp_path):
  path = tmp_path / "study.json"
  path.write_text('{"config": {"seeds"')
  with pytest.raises(ConfigError, match="is damaged.*--overwrite") as e:
    io.read_json(path, "the study file", "pass --overwrite")
  assert "\n" not in str(e.value)

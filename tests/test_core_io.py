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


def test_uris_need_a_known_scheme_and_its_filesystem(monkeypatch):
  with pytest.raises(ConfigError, match=r"--out 'foo://x': unknown scheme foo://; pass a local"):
    io.ensure_writable_dir("foo://x")
  monkeypatch.setattr(io.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(ConfigError, match="needs the gcsfs package.*pip install gcsfs"):
    io.ensure_writable_dir("gs://bucket/run")


def test_schema_check_names_the_file_and_what_is_wrong(tmp_path):
  spec = {"config": {"seeds": list}, "results": {"*": {"*": {"test": [float]}}}}
  good = {"config": {"seeds": [0]}, "results": {"Net1": {"valid": {"test": [1.0, 2]}}}}
  assert io.check_schema(good, spec, tmp_path / "s.json", "fix it") is good
  for bad, problem in (
    ([], "the top level should be an object, not list"),
    ({"config": {"seeds": [0]}}, "results is missing"),
    (
      {**good, "results": {"Net1": {"valid": {"val": [1.0]}}}},
      "results.Net1.valid.test is missing",
    ),
    ({**good, "results": {"Net1": {"valid": {"test": ["x"]}}}}, "test[0] should be float, not str"),
  ):
    with pytest.raises(ConfigError) as e:
      io.check_schema(bad, spec, tmp_path / "s.json", "fix it")
    assert problem in str(e.value) and "s.json" in str(e.value) and str(e.value).endswith("fix it.")

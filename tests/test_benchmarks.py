"""The GPT benchmarks still run against the code they measure (a renamed config field once broke
benchmarks.gpt_tokens unnoticed) and their tables say what they measured; at tiny sizes, so
nothing here is a timing."""

import json
import types

import numpy as np
import pytest

from benchmarks import gpt_parts, gpt_tokens


def test_gpt_tokens_writes_one_row_per_model_with_tokens_per_second_from_its_step_time(tmp_path):
  result = gpt_tokens.main(["--models", "gpt-nano", "--batch-size", "8", "--block-size", "16",
                            "--steps-per-call", "2", "--repeats", "2", "--memory-steps", "12",
                            "--precision", "fp32", "--out", str(tmp_path)])  # fmt: skip
  (row,) = result["results"]
  assert (row["model_type"], row["precision"], row["steps_per_call"]) == ("gpt-nano", "fp32", 2)
  assert row["tokens_per_s"] == pytest.approx(8 * 16 / row["ms_per_step"] * 1e3)
  assert len(row["ms_all"]) == 2
  assert row["ms_per_step"] == pytest.approx(np.median(row["ms_all"]))
  assert json.loads((tmp_path / "gpt_tokens.json").read_text()) == result
  assert "| gpt-nano |" in (tmp_path / "gpt_tokens.md").read_text()


def test_gpt_parts_times_every_part_per_run_and_relative_to_the_step(tmp_path, capsys):
  result = gpt_parts.main(["--model", "gpt-nano", "--batch-size", "8", "--block-size", "16",
                           "--steps-per-call", "2", "--repeats", "3",
                           "--out", str(tmp_path)])  # fmt: skip
  parts = ["step", "step, dropout 0", "step, dropout 0, fused attention", "forward",
           "forward + backward", "optimizer", "dropout masks", "matmuls"]  # fmt: skip
  assert list(result["ms_median"]) == parts
  assert all(len(result["ms_all"][p]) == 3 for p in parts)
  assert result["ms_median"]["step"] == sorted(result["ms_all"]["step"])[1]
  table = (tmp_path / "gpt_parts.md").read_text()
  assert "| step | " in table and " | 1.00 |" in table and "2 per device call" in table
  assert json.loads((tmp_path / "gpt_parts.json").read_text()) == result
  with pytest.raises(SystemExit) as stop:  # again into the same --out: refused before work
    gpt_parts.main(["--out", str(tmp_path)])
  assert stop.value.code == 2
  assert "already holds gpt_parts.json" in capsys.readouterr().err
  assert json.loads((tmp_path / "gpt_parts.json").read_text()) == result


@pytest.mark.parametrize("installed", [True, False])
def test_every_suite_runs_with_its_pytorch_comparator_where_pytorch_is_installed(
  installed, monkeypatch
):
  from benchmarks import __main__ as suites

  ran = []
  monkeypatch.setattr(suites, "torch_installed", lambda: installed)
  monkeypatch.setattr(
    suites.subprocess, "run", lambda cmd: ran.append(cmd[2:]) or types.SimpleNamespace(returncode=0)
  )
  suites.main(["--quick", "--txt-file", "t.txt"])
  assert [cmd[0] for cmd in ran] == list(suites.SUITES)
  with_reference = [cmd[0] for cmd in ran if "--reference" in cmd]
  assert with_reference == (
    ["benchmarks.padding_step", "benchmarks.gpt_tokens"] if installed else []
  )
  assert all(cmd[1:4] == ["--out", "runs/bench", "--quick"] for cmd in ran)

"""The GPT benchmarks still run against the code they measure (a renamed config field once broke
benchmarks.gpt_tokens unnoticed) and their tables say what they measured; at tiny sizes, so
nothing here is a timing."""

import functools
import json
import types
from unittest import mock

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from benchmarks import gpt_parts, gpt_tokens, output, padding_step, padding_torch
from hw2_jax.padding import conv, model


def test_gpt_tokens_writes_one_row_per_model_with_tokens_per_second_from_its_step_time(tmp_path):
  result = gpt_tokens.main(["--models", "gpt-nano", "--batch-size", "8", "--block-size", "16",
                            "--steps-per-call", "2", "--repeats", "2", "--memory-steps", "12",
                            "--precision", "fp32", "--dropout", "0.25",
                            "--out", str(tmp_path)])  # fmt: skip
  (row,) = result["results"]
  assert row["dropout"] == 0.25
  assert (row["model_type"], row["precision"], row["steps_per_call"]) == ("gpt-nano", "fp32", 2)
  assert row["tokens_per_s"] == pytest.approx(8 * 16 / row["ms_per_step"] * 1e3)
  assert len(row["ms_all"]) == 2
  assert row["ms_per_step"] == pytest.approx(np.median(row["ms_all"]))
  assert json.loads((tmp_path / "gpt_tokens.json").read_text()) == result
  table = (tmp_path / "gpt_tokens.md").read_text()
  assert "| gpt-nano |" in table and "dropout 0.25," in table


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
  suites.main(["--quick", "--txt-file", "t.txt", "--data-dir", "d"])
  twice = [s for s in suites.SUITES for _ in range(1 + (s == "benchmarks.gpt_tokens"))]
  assert [cmd[0] for cmd in ran] == twice
  # gpt_tokens at the assignment's dropout (its default, 0.1), then at 0 into a folder of its own
  first, second = [cmd for cmd in ran if cmd[0] == "benchmarks.gpt_tokens"]
  assert "--dropout" not in first
  assert second[1:3] == ["--out", "runs/bench/gpt_tokens-dropout0"]
  assert second[-2:] == ["--dropout", "0"] and ("--reference" in second) == installed
  ran.remove(second)
  given = {cmd[0]: cmd for cmd in ran}
  assert given["benchmarks.gpt_recipe"][-2:] == ["--txt-file", "t.txt"]
  assert given["benchmarks.rotation_command"][-2:] == ["--data-dir", "d"]
  with_reference = [cmd[0] for cmd in ran if "--reference" in cmd]
  assert with_reference == (
    ["benchmarks.padding_step", "benchmarks.gpt_tokens"] if installed else []
  )
  assert all(cmd[1:4] == ["--out", "runs/bench", "--quick"] for cmd in ran)
  ran.clear()  # without the data they need, those two are skipped
  suites.main(["--quick"])
  assert [cmd[0] for cmd in ran] == [
    s for s in twice if s not in ("benchmarks.gpt_recipe", "benchmarks.rotation_command")
  ]


def _dot_flops(jaxpr) -> int:
  """2 x (output elements) x (contracted length), summed over every dot_general of a jaxpr and
  of the jaxprs inside it."""
  total = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      (contract, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      total += (
        2 * int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[i] for i in contract]))
      )
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      total += _dot_flops(sub)
  return total


def test_train_flops_per_token_counts_every_matmul_of_a_training_step():
  """The MFU's numerator: the formula equals the FLOPs of the dot_generals that JAX traces for
  one training step (forward, backward and AdamW) of a small explicit-attention GPT."""
  from hw2_jax.gpt.config import ModelConfig
  from hw2_jax.gpt.model import GPT
  from hw2_jax.gpt.train import create_state, train_step

  cfg = ModelConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8, dropout=0.1)
  tx = optax.adamw(1e-3)
  state = create_state(cfg, tx, 0)
  step = functools.partial(
    train_step, model=GPT(cfg), tx=tx, lr_fn=lambda s: 1e-3, batch_size=3, block_size=8
  )
  jaxpr = jax.make_jaxpr(step)(state, jnp.arange(40, dtype=jnp.int32) % 11).jaxpr
  assert _dot_flops(jaxpr) == 3 * 8 * gpt_tokens.train_flops_per_token(cfg)


def test_padding_step_times_the_study_step_and_xlas_convolution_in_its_place(tmp_path):
  """The padding benchmark runs against the net it measures (it patched a name the model no
  longer had, so --reference failed for every configuration) and its XLA-convolution row runs
  XLA's convolution: the same step's FLOPs with one and with the other convolution agree."""
  padding_step.main(["--nets", "Net1", "--conv-types", "sconv", "--seeds", "2", "--repeats", "1",
                     "--warmup", "1", "--out", str(tmp_path)])  # fmt: skip
  (row,) = json.loads((tmp_path / "padding_step.json").read_text())["rows"]
  assert (row["net"], row["conv_type"], row["precision"]) == ("Net1", "sconv", "fp32")
  assert row["ms_one_model"] > 0 and row["ms_per_seed_vmapped"] > 0
  assert "| Net1 | sconv | fp32 |" in (tmp_path / "padding_step.md").read_text()
  ours = padding_step.time_step("Net1", "sconv", 1, 1, 0)
  xla = padding_step.time_step("Net1", "sconv", 1, 1, 0, conv.reference_conv)
  assert xla["flops"] == pytest.approx(ours["flops"], rel=0.2)
  hlo = jax.jit(lambda x, w: conv.reference_conv(x, w, 1, "sconv")).lower(
    jnp.zeros((3, 8, 8, 2)), jnp.zeros((3, 3, 3, 4))
  )
  assert "convolution" in hlo.as_text()


@pytest.mark.skipif(not output.torch_installed(), reason="needs PyTorch (the bench extra)")
def test_the_pytorch_comparator_nets_have_the_studys_parameter_counts():
  """benchmarks/padding_torch's nets (the PyTorch comparator of padding_step and
  padding_command) are the study's nets: the same parameter count for every net and padding."""
  import torch

  for name in ("Net1", "Net2"):
    for conv_type in conv.CONV_TYPES:
      m = model.make_net(name, conv_type)
      params = jax.eval_shape(m.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
      ours = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
      theirs = sum(p.numel() for p in padding_torch.net(torch, name, conv_type).parameters())
      assert theirs == ours, (name, conv_type)


def test_padding_command_times_pytorch_then_a_first_run_then_a_rerun_from_its_cache(tmp_path):
  """Whole commands, each a process: PyTorch's loop, the study with an empty compilation cache
  and the study again with the same cache, per repeat; ratios of medians."""
  from benchmarks import commands, padding_command

  calls, fake = [], iter([10.0, 30.0, 12.0, 14.0, 20.0, 9.0])  # seconds, in call order
  with mock.patch.object(commands, "timed", lambda argv, env=None: calls.append((argv, env)) or next(fake)):  # fmt: skip
    result = padding_command.main(["--repeats", "2", "--seeds", "3", "--epochs", "4",
                                   "--out", str(tmp_path)])  # fmt: skip
  installed = output.torch_installed()
  modules = [argv[0] for argv, _ in calls]
  per_repeat = ["benchmarks.padding_torch"] * installed + ["hw2_jax", "hw2_jax"]
  assert modules == per_repeat * 2
  studies = [(argv, env) for argv, env in calls if argv[0] == "hw2_jax"]
  assert all(argv[1:9] == ["padding-study", "--nets", "Net1", "--conv-types", "fconv",
                           "--seeds", "3", "--epochs"] for argv, _ in studies)  # fmt: skip
  caches = [env["JAX_COMPILATION_CACHE_DIR"] for _, env in studies]
  assert caches[0] == caches[1] != caches[2] == caches[3]  # a rerun reads its first run's cache
  if installed:
    assert result["median_s"] == {"pytorch": 12.0, "jax_first_run": 25.0, "jax_from_cache": 10.5}
    assert result["jax_over_pytorch"]["jax_from_cache"] == pytest.approx(10.5 / 12.0)
    assert (
      "| hw2_jax padding-study, from the cache | 10.5 | 0.88 |"
      in (tmp_path / "padding_command.md").read_text()
    )


def test_rotation_command_times_the_study_and_its_comparator_on_the_same_folder(tmp_path):
  from benchmarks import commands, rotation_command

  calls = []
  with (
    mock.patch.object(commands, "timed", lambda argv, env=None: calls.append(argv) or 1.0),
    mock.patch.object(rotation_command.data, "load") as load,
  ):
    result = rotation_command.main(["--data-dir", "D", "--epochs", "2", "--out", str(tmp_path)])
  load.assert_called_once_with("D")  # decoded and cached before the timing
  studies = [argv for argv in calls if argv[0] == "hw2_jax"]
  assert [argv[:6] for argv in studies] == [
    ["hw2_jax", "rotation-study", "--data-dir", "D", "--epochs", "2"]
  ] * 2
  if output.torch_installed():
    assert calls[0] == ["benchmarks.rotation_torch", "--data-dir", "D", "--epochs", "2"]
    assert result["jax_over_pytorch"] == {"jax_first_run": 1.0, "jax_from_cache": 1.0}


@pytest.mark.skipif(not output.torch_installed(), reason="needs PyTorch (the bench extra)")
def test_the_rotation_comparator_turns_images_as_the_study_and_has_its_parameter_count():
  """benchmarks/rotation_torch does the study's work: its rotation equals
  hw2_jax/rotation/rotate.py pixel for pixel, and its CNN has the notebook CNN's parameters."""
  import torch

  from benchmarks import rotation_torch
  from hw2_jax.rotation import rotate

  images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype(np.float32)
  angles = np.array([0.0, 30.0, 90.0, -123.4, 180.0, 270.0], np.float32)
  ours = np.asarray(rotate.rotate(jnp.asarray(images), jnp.asarray(angles)))
  theirs = rotation_torch.rotate(
    torch, torch.from_numpy(images).permute(0, 3, 1, 2), torch.from_numpy(angles)
  )
  np.testing.assert_array_equal(theirs.permute(0, 2, 3, 1).numpy(), ours)
  from hw2_jax.rotation.model import make_model

  shapes = jax.eval_shape(make_model("plain").init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  ours = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))
  assert sum(p.numel() for p in rotation_torch.cnn(torch).parameters()) == ours == 122_570


@pytest.mark.skipif(not output.torch_installed(), reason="needs PyTorch (the bench extra)")
def test_the_pytorch_gpt_comparator_drops_out_where_the_jax_model_does():
  """At the assignment's dropout the comparator did none (a 0.42 ratio of unequal work): now
  embeddings, each block's two residual branches and (in SDPA) the attention probabilities."""
  import torch

  from hw2_jax.gpt.config import ModelConfig

  cfg = ModelConfig(vocab_size=11, n_layer=3, n_head=2, n_embd=16, block_size=8, dropout=0.3)
  step = gpt_tokens.torch_step(cfg, 4)
  drops = [m for m in step.model.modules() if isinstance(m, torch.nn.Dropout)]
  assert [m.p for m in drops] == [0.3] * (1 + 2 * cfg.n_layer) and step.model.training
  step()  # and a step runs

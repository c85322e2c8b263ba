"""`python -m hw2_jax report` on a tiny results tree written here (no training): the numbers of
report.json against an independent computation, verdicts that follow the numbers, the
sentences for results not run yet, and one-line errors for damaged files."""

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from hw2_jax import cli
from hw2_jax.core.errors import ConfigError
from hw2_jax.padding.conv import CONV_TYPES
from hw2_jax.report import build, load, rotation
from hw2_jax.report.config import Config

SEEDS = 7  # with one round diverged, 6: the fewest whose sign-flip p can be < 0.05 (2 / 64)
DIVERGED = 5
SIZES = {"num_train": 200, "num_val": 100, "num_test": 100}
# Shifted-test accuracy per seed: valid < sconv < fconv, seed by seed.
TEST = {
  "valid": [0.0, 0.1, 0.0, 0.2, 0.0, 0.1, 0.0],
  "sconv": [6.5, 6.0, 7.1, 5.9, 6.8, 6.3, 6.6],
  "fconv": [88.0, 89.5, 87.2, 90.1, 88.8, 41.0, 89.0],  # round 6 diverged (left out)
}


def padding_study(protocol: str, flip: bool = False) -> dict:
  test = dict(TEST)
  if flip:  # fconv now memorises position and sconv generalises
    test["sconv"], test["fconv"] = TEST["fconv"], TEST["sconv"]
  cfg = {"seeds": list(range(SEEDS)), "epochs": 3, "patience": 2, "batch_size": 100, **SIZES}
  cfg.update({"protocol": "clean"} if protocol == "clean" else {"independent_val": False})
  results = {"Net1": {}, "Net2": {}}
  for i, conv in enumerate(TEST):
    shift = 0.3 if protocol == "clean" else 0.0
    entry = {
      "val": [99.0 - i + 0.1 * s for s in range(SEEDS)],
      "test": [a + shift for a in test[conv]],
      "epochs": [3] * SEEDS,
    }
    if protocol == "clean":
      entry["similar"] = [98.0 - i + 0.2 * s for s in range(SEEDS)]
    if conv == "fconv":
      entry["diverged"] = [DIVERGED]
    results["Net1"][conv] = entry
    if conv != "fconv":
      zero = {"val": [100.0] * SEEDS, "test": [0.0] * SEEDS, "epochs": [3] * SEEDS}
      results["Net2"][conv] = {**zero, **({"similar": [100.0] * SEEDS} if shift else {})}
  return {"config": cfg, "device": "1 x cpu (cpu)", "results": results}


def rotation_study(seeds: int) -> dict:
  """Models plain, augmented and c4; with several seeds, c4's last seed diverged."""
  angles = [0, 90, 180]
  rng = np.random.default_rng(seeds)
  models = {}
  for name, base in (("plain", 70.0), ("augmented", 50.0), ("c4", 60.0)):
    per_seed = (base + rng.normal(0, 2, size=(seeds, len(angles)))).round(2)
    models[name] = {"accuracy": per_seed.mean(0).tolist(), "accuracy_per_seed": per_seed.tolist()}
  if seeds > 1:
    models["c4"]["diverged_seeds"] = [seeds - 1]
    models["c4"]["accuracy_per_seed"][-1] = [10.0] * len(angles)
  return {"config": {"seeds": seeds, "epochs": 1}, "angles": angles, "models": models}


METRICS = [
  {"kind": "step", "step": 1, "epoch": 0.5, "loss": 2.30, "acc": 0.1},
  {"kind": "step", "step": 2, "epoch": 1.0, "loss": 2.00, "acc": 0.3},
  {"kind": "epoch", "step": 2, "epoch": 1.0, "complete": True, "loss": 2.15, "acc": 0.2},
  {"kind": "step", "step": 3, "epoch": 1.5, "loss": 1.60, "acc": 0.4},
  {"kind": "epoch", "step": 3, "epoch": 1.5, "complete": False, "loss": 1.60, "acc": 0.4},
  {"kind": "sample", "step": 3, "prompt": "Once", "samples": ["Once upon", "Once more"]},
]


def write_tree(root, flip=False, clean=True, seeds_rotation=True):
  def put(rel, obj):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))

  put("padding-study/padding_study.json", padding_study("original", flip))
  if clean:
    put("padding-study-clean/padding_study.json", padding_study("clean", flip))
  put("rotation-study/rotation_study.json", rotation_study(1))
  if seeds_rotation:
    put("rotation-study-seeds/rotation_study.json", rotation_study(3))
  torn = '{"kind": "step", "st'  # a run killed while writing its last line
  put("gpt/grimm/metrics.jsonl", "".join(json.dumps(r) + "\n" for r in METRICS) + torn)
  put("gpt/grimm/summary.json", {"steps_per_epoch": 2, "model": {"vocab_size": 10}})
  return root


def make_report(tmp_path, **tree) -> tuple[dict, str]:
  results = write_tree(tmp_path / "results", **tree)
  out = tmp_path / "report"
  build.build(Config(results=str(results), out=str(out)))
  return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
  return make_report(tmp_path_factory.mktemp("report"))


def t_interval(x):
  x = np.asarray(x, float)
  half = scipy_stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
  return [x.mean() - half, x.mean() + half]


def test_means_and_intervals_equal_an_independent_computation(report):
  numbers, _ = report
  for protocol in ("original", "clean"):
    study = padding_study(protocol)
    for net, by_conv in study["results"].items():
      for conv, entry in by_conv.items():
        for split in ("val", "similar", "test"):
          if split not in entry:
            assert split not in numbers["padding"][protocol][net][conv]
            continue
          x = np.delete(np.asarray(entry[split]), entry.get("diverged", []))
          got = numbers["padding"][protocol][net][conv][split]
          assert got["n"] == len(x) and got["mean"] == pytest.approx(x.mean())
          if np.ptp(x) == 0:
            assert got["ci95"] == [x[0], x[0]] and got["std"] == 0
          else:
            assert got["ci95"] == pytest.approx(t_interval(x))
            assert got["std"] == pytest.approx(x.std(ddof=1))


def test_paddings_are_compared_seed_by_seed(report):
  numbers, md = report
  rows = numbers["paired"]["original"]["Net1"]
  assert [(r["a"], r["b"]) for r in rows] == [
    ("valid", "sconv"),
    ("valid", "fconv"),
    ("sconv", "fconv"),
  ]
  for r in rows:
    keep = [i for i in range(SEEDS) if not (i == DIVERGED and "fconv" in (r["a"], r["b"]))]
    d = np.array([TEST[r["a"]][i] - TEST[r["b"]][i] for i in keep])
    hits = sum(
      abs(np.dot(s, d)) >= abs(d.sum()) - 1e-9 for s in itertools.product((1, -1), repeat=len(d))
    )
    assert r["n"] == len(d) and r["mean_diff"] == pytest.approx(d.mean())
    assert r["ci95"] == pytest.approx(t_interval(d)) and r["p"] == hits / 2 ** len(d)
  assert len(numbers["paired"]["clean"]["Net2"]) == 1  # valid - sconv, every net in the JSON
  first = np.subtract(TEST["valid"], TEST["sconv"]).mean()
  assert f"| valid | sconv | {first:.2f} [" in md  # Net1's pairs as a table


def test_the_protocols_are_compared_seed_by_seed(report):
  numbers, _ = report
  diff = numbers["clean_minus_original"]["Net1"]
  assert diff["sconv"]["mean_diff"] == pytest.approx(0.3) and diff["sconv"][
    "ci95"
  ] == pytest.approx([0.3, 0.3])
  assert diff["sconv"]["p"] == 2 / 2**SEEDS and diff["fconv"]["n"] == SEEDS - 1


def test_verdicts_follow_the_numbers(report, tmp_path):
  claims = report[0]["claims"]
  assert [c["claim"] for c in claims] == [
    "Net1 orders valid < sconv < fconv on the shifted test",
    "Net1: replicate, circular, fconv generalise; the other paddings do not",
    "Net2: no padding generalises",
  ]
  for protocol in ("original", "clean"):
    assert [c[protocol].split(":")[0] for c in claims] == ["holds", "holds", "holds"]
  flipped = make_report(tmp_path, flip=True)[0]["claims"]
  for protocol in ("original", "clean"):
    verdicts = [c[protocol] for c in flipped]
    assert verdicts[0].startswith("does not hold") and verdicts[1].startswith("does not hold")
    assert "sconv generalise" in verdicts[1] and verdicts[2].startswith("holds")


def test_ordered_means_without_significance_are_not_shown(tmp_path):
  results = write_tree(tmp_path / "results")
  study = json.loads((results / "padding-study/padding_study.json").read_text())
  study["results"]["Net1"]["sconv"]["test"] = [0.0, 0.1, 0.0, 0.2, 0.0, 0.3, 0.0]  # p = 0.5
  (results / "padding-study/padding_study.json").write_text(json.dumps(study))
  build.build(Config(results=str(results), out=str(tmp_path / "out")))
  claims = json.loads((tmp_path / "out/report.json").read_text())["claims"]
  assert claims[0]["original"].startswith("not shown"), claims[0]


def test_a_mean_above_chance_with_an_interval_across_it_is_undecided(tmp_path):
  results = write_tree(tmp_path / "results")
  study = json.loads((results / "padding-study/padding_study.json").read_text())
  study["results"]["Net1"]["fconv"]["test"] = [20.0, 95.0, 30.0, 99.0, 90.0, 0.0, 85.0]  # 70
  (results / "padding-study/padding_study.json").write_text(json.dumps(study))
  build.build(Config(results=str(results), out=str(tmp_path / "out")))
  numbers = json.loads((tmp_path / "out/report.json").read_text())
  assert numbers["padding"]["original"]["Net1"]["fconv"]["test"]["ci95"][0] < 50
  verdict = numbers["claims"][1]["original"]
  assert verdict.startswith("not shown") and "undecided: fconv" in verdict, verdict


def test_leaks_are_counted_from_the_generator(report):
  repeats = report[0]["repeats"]
  original, clean = repeats["original"], repeats["clean"]
  assert original["val"] == {"n": 100, "repeat_train": 100}  # validation = training images
  assert original["test"]["moved_train"] == 100 and original["test"]["repeat_train"] == 0
  assert clean["val"]["repeat_train"] < 50 and clean["test"]["moved_train"] < 50
  assert "similar" in clean and "similar" not in original


def test_missing_clean_study_and_rotation_seeds_are_sentences(tmp_path):
  numbers, md = make_report(tmp_path, clean=False, seeds_rotation=False)
  assert "The clean-protocol study is not run yet: `python -m experiments.padding_study" in md
  assert set(numbers["padding"]) == {"original"} and numbers["claims"][0]["clean"] == "not run"
  assert "The study over several seeds is not run yet: `python -m experiments.rotation_seeds" in md
  assert "(n = 1)" in md
  assert numbers["rotation"]["plain"]["n"] == 1 and numbers["rotation"]["plain"]["ci95"][0] is None


def test_rotation_bands_over_seeds_for_every_model(report):
  numbers, md = report
  study = rotation_study(3)
  assert list(numbers["rotation"]) == ["plain", "augmented", "c4"]
  for name, m in study["models"].items():
    per_seed = np.delete(m["accuracy_per_seed"], m.get("diverged_seeds", []), axis=0)
    got = numbers["rotation"][name]
    assert got["n"] == (2 if name == "c4" else 3) and got["angles"] == [0, 90, 180]
    assert got["mean"] == pytest.approx(per_seed.mean(0))
    assert np.ravel(got["ci95"]) == pytest.approx(np.ravel([t_interval(c) for c in per_seed.T]))
    assert f"rotation_{name}.png" in md
  assert f"]({rotation.COMPARISON})" in md and rotation.COMPARISON in numbers["figures"]
  assert "not run yet: `python -m experiments.rotation_seeds" not in md


def test_gpt_losses_in_nats_and_bits_and_the_awaited_run(report):
  numbers, md = report
  grimm = numbers["gpt"]["runs"]["grimm"]
  assert grimm["loss_nats"]["last"] == 1.60
  assert grimm["loss_bits"]["last"] == pytest.approx(1.60 / math.log(2))
  assert grimm["per_epoch"] == [
    {"epoch": 1, "loss_nats": 2.15, "loss_bits": pytest.approx(2.15 / math.log(2)), "acc": 0.2}
  ]
  assert grimm["partial_epoch"] == {
    "epoch": 1.5,
    "loss_nats": 1.60,
    "loss_bits": pytest.approx(1.60 / math.log(2)),
  }
  assert [s["text"] for s in grimm["samples"]] == ["Once upon", "Once more"]
  assert "awaits a GPU or TPU" in md and "Note: skipped a torn last line" in md
  assert 'make gpt-train ARGS="--txt-file ../shared/data/books/book_EN_grimms_fairy_tales.txt' in md
  assert "The nanoGPT comparison is not run yet" in md


def test_writes_the_report_and_its_figures(tmp_path, capsys):
  results = write_tree(tmp_path / "results")
  cli.main(["report", "--results", str(results), "--out", str(tmp_path / "out")])
  line = capsys.readouterr().out.strip()
  assert line.startswith("wrote ") and "\n" not in line
  md = (tmp_path / "out/report.md").read_text()
  pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
  assert len(pngs) >= 3 and all(f"]({name})" in md for name in pngs)
  for heading in ("Question 1.1", "Table 1: Net1", "Table 2: Net2", "Question 1.2", "Question 2.7"):
    assert heading in md


@pytest.mark.parametrize(
  "damage, message",
  [
    (lambda s: "{not json", "is damaged"),
    (lambda s: s.replace('"test": [0.0, 0.1', '"test": [0.1'), "'test' is not a list of 7"),
    (lambda s: s.replace('"independent_val": false', '"protocol": "clean"'), "records protocol"),
  ],
)
def test_a_damaged_result_file_is_a_one_line_error(tmp_path, capsys, damage, message):
  results = write_tree(tmp_path / "results")
  path = results / "padding-study/padding_study.json"
  path.write_text(damage(path.read_text()))
  with pytest.raises(SystemExit) as e:
    cli.main(["report", "--results", str(results), "--out", str(tmp_path / "out")])
  err = capsys.readouterr().err.strip()
  assert e.value.code == 2 and message in err and str(path) in err and "\n" not in err
  assert not (tmp_path / "out").exists()  # every input is checked before --out is touched


def test_a_folder_of_another_commands_outputs_is_refused(tmp_path, capsys):
  results = write_tree(tmp_path / "results")
  out = tmp_path / "out"
  out.mkdir()
  (out / "padding_study.json").write_text("{}")
  with pytest.raises(SystemExit) as e:
    cli.main(["report", "--results", str(results), "--out", str(out)])
  err = capsys.readouterr().err.strip()
  assert e.value.code == 2 and "\n" not in err, err
  assert "holds the outputs of padding-study, not report" in err and str(out) in err
  assert sorted(p.name for p in out.iterdir()) == [".hw2_jax.lock", "padding_study.json"]


def test_a_second_report_into_its_folder_replaces_the_files(tmp_path):
  results, out = tmp_path / "results", tmp_path / "out"
  write_tree(results)
  first = build.build(Config(results=str(results), out=str(out)), log=lambda line: None)
  write_tree(results, flip=True)
  second = build.build(Config(results=str(results), out=str(out)), log=lambda line: None)
  assert first[build.JSON] != second[build.JSON]
  for name, data in second.items():
    assert (out / name).read_bytes() == data, name
  claims = json.loads((out / build.JSON).read_text())["claims"]
  assert claims[0]["original"].startswith("does not hold")


def test_config_refuses_a_results_folder_without_the_results(tmp_path):
  with pytest.raises(ConfigError, match="is not a folder"):
    Config(results=str(tmp_path / "nope")).validate()
  with pytest.raises(ConfigError, match="padding-study/padding_study.json"):
    Config(results=str(tmp_path)).validate()


def test_anchors_name_this_projects_paddings():
  anchors = load.data_file("anchors.json")
  for source in ("homework", "kayhan2020"):
    for net, by_conv in anchors[source]["nets"].items():
      assert net in ("Net1", "Net2") and set(by_conv) <= set(CONV_TYPES)
      assert anchors[source]["source"] and anchors[source]["mapping"]
  assert set(anchors["kayhan2020"]["nets"]["Net1"]) == {"valid", "sconv", "fconv", "circular"}

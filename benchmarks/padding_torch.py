"""The padding study's PyTorch comparator: the original's nets in PyTorch (`net`) and a whole
run of its training loop (`main`), for benchmarks.padding_step (one step) and
benchmarks.padding_command (a whole command).

  python -m benchmarks.padding_torch [--net Net1] [--conv-type fconv] [--seeds 10] [--epochs 5]

trains one model per seed, one after another as the original script does: Adadelta (the
recipe of hw2_jax/padding/config.Recipe), batches of 200 in a fixed order, the validation loss
after every epoch, the parameters of the lowest one kept, early stopping after `patience`
epochs without a lower one; then the shifted test set's accuracy with the kept parameters. The
data are the project's (hw2_jax/padding/data.make_splits, the `original` protocol), so both
commands train on the same images. A restatement written for timing, not the original script:
its numbers are not the study's (PyTorch's own initialisation and arithmetic).
"""

import copy
import time

import numpy as np

from benchmarks import output
from hw2_jax.padding import conv, data, model
from hw2_jax.padding.config import Recipe

# jnp.pad's names of the paddings (conv.PADDINGS) -> PyTorch's padding_mode
TORCH_MODES = {"constant": "zeros", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def add_run_flags(parser, seeds_help: str) -> None:
  """--net, --conv-type, --seeds, --epochs: one run of the study, for the PyTorch loop and
  the whole-command benchmark alike."""
  parser.add_argument("--net", default="Net1", choices=model.NETS)
  parser.add_argument("--conv-type", default="fconv", choices=conv.CONV_TYPES)
  parser.add_argument("--seeds", type=int, default=10, help=seeds_help)
  parser.add_argument("--epochs", type=int, default=5)


def net(torch, name: str, conv_type: str):
  """The original's Net1 (global max-pool head) or Net2 (dense head) in PyTorch."""
  nn = torch.nn
  mode, pad = conv.PADDINGS[conv_type]
  layers, c_in = [], 3
  for c_out, stride in zip(model.CHANNELS, model.STRIDES):
    layers += [
      nn.Conv2d(c_in, c_out, 3, stride, pad, bias=False, padding_mode=TORCH_MODES[mode]),
      nn.ReLU(),
    ]
    c_in = c_out
  s = model.final_size(conv_type)
  head = (
    [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, 2)]
    if name == "Net1"
    else [nn.Flatten(), nn.Linear(64 * s * s, 64), nn.Linear(64, 2)]
  )
  return nn.Sequential(*layers, *head)


def adadelta(torch, params, recipe: Recipe):
  return torch.optim.Adadelta(
    params, lr=recipe.learning_rate, rho=recipe.rho, eps=recipe.eps,
    weight_decay=recipe.weight_decay,
  )  # fmt: skip


def train_seed(torch, name, conv_type, splits, seed: int, recipe: Recipe) -> tuple[float, int]:
  """(shifted-test accuracy in % with the best parameters, epochs trained) of one seed, on
  `splits` as PyTorch tensors (output.torch_split)."""
  torch.manual_seed(seed)
  m = net(torch, name, conv_type)
  opt = adadelta(torch, m.parameters(), recipe)
  (x, y), (xv, yv), (xt, yt) = (splits[k] for k in ("train", "val", "test"))
  b = recipe.batch_size
  best, best_state, bad, epochs = float("inf"), None, 0, 0
  for _ in range(recipe.epochs):
    m.train()
    for i in range(0, len(x) - b + 1, b):
      opt.zero_grad()
      torch.nn.functional.cross_entropy(m(x[i : i + b]), y[i : i + b]).backward()
      opt.step()
    epochs += 1
    m.eval()
    with torch.no_grad():
      val_loss = sum(
        torch.nn.functional.cross_entropy(m(xv[i : i + b]), yv[i : i + b]).item()
        for i in range(0, len(xv), b)
      )
    if val_loss < best:
      best, best_state, bad = val_loss, copy.deepcopy(m.state_dict()), 0
    else:
      bad += 1
      if bad >= recipe.patience:
        break
  m.load_state_dict(best_state)
  with torch.no_grad():
    correct = sum(
      (m(xt[i : i + b]).argmax(1) == yt[i : i + b]).sum().item() for i in range(0, len(xt), b)
    )
  return 100.0 * correct / len(xt), epochs


def main(argv=None) -> dict:
  p = output.parser("benchmarks.padding_torch", __doc__)
  add_run_flags(p, "rounds, trained one after another")
  args = p.parse_args(argv)
  torch = output.require_torch(p)
  t0 = time.perf_counter()
  recipe = Recipe(epochs=args.epochs)
  splits = {k: output.torch_split(torch, s) for k, s in data.make_splits().items()}
  runs = [train_seed(torch, args.net, args.conv_type, splits, s, recipe) for s in range(args.seeds)]
  acc = [a for a, _ in runs]
  print(
    f"PyTorch {args.net} {args.conv_type}: shifted test {np.mean(acc):.2f}% (mean of "
    f"{args.seeds} rounds), {np.mean([e for _, e in runs]):.1f} epochs, "
    f"{time.perf_counter() - t0:.0f} s"
  )
  return {"test_acc": acc, "epochs": [e for _, e in runs]}


if __name__ == "__main__":
  main()

#!/usr/bin/env python3
"""Write reference cases for snn's `functional` and `spikegen` modules.

Every case is computed with snnTorch 1.0 and PyTorch in float64 and written
to one JSON file (by default crates/snn/tests/fixtures/functional_cases.json)
in the fixture format of the workspace: every array is
{"shape": [...], "data": [...]}, flat and row-major.

  loss        one snntorch.functional loss on a random record
              [num_steps, batch, classes] of spikes or membranes: the
              loss value and its gradient with respect to the record.
  accuracy    snntorch.functional.accuracy_rate on random spikes, with
              ties and silent samples.
  latency     snntorch.spikegen.latency_code (spike times) and
              snntorch.spikegen.latency (spikes) on random data.

How float64 is obtained. The inputs are created as float64 tensors (the
spikes as 0/1 in float64, since the losses differentiate them as real
numbers). snnTorch 1.0 keeps a module-level `dtype = torch.float` in
snntorch/functional/loss.py and snntorch/spikegen.py: the losses start
their sum over steps from a float32 zero (an in-place `+=` then rounds it
to float32), and `targets_convert` and `latency` build float32 tensors.
When off_target >= on_target, `targets_convert` also multiplies a boolean
mask by off_target, which gives a tensor of torch's default dtype. This
script sets both module variables and the default dtype to torch.float64
before any call, so every value is computed in float64 with snnTorch's own
code.

Run it in a virtual environment that has torch, snntorch and numpy; see
README.md beside this file. The output depends only on the seeds below, so
a rerun writes the same file.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

import snntorch
import snntorch.functional as SF
import snntorch.functional.loss as snn_loss
import snntorch.spikegen as spikegen

snn_loss.dtype = torch.float64
spikegen.dtype = torch.float64
torch.set_default_dtype(torch.float64)

DEFAULT_OUT = (
    Path(__file__).resolve().parents[2] / "crates" / "snn" / "tests" / "fixtures" / "functional_cases.json"
)

# (seed, num_steps, batch, classes) of the loss cases.
LOSS_SHAPES = [(0, 5, 4, 3), (1, 7, 3, 5), (2, 25, 2, 10)]

# (name, snnTorch constructor, keyword arguments, input kind).
LOSSES = [
    ("ce_rate_loss", SF.ce_rate_loss, {}, "spikes"),
    ("ce_rate_loss", SF.ce_rate_loss, {}, "membranes"),
    ("ce_count_loss", SF.ce_count_loss, {}, "spikes"),
    ("ce_max_membrane_loss", SF.ce_max_membrane_loss, {}, "membranes"),
    ("ce_max_membrane_loss", SF.ce_max_membrane_loss, {}, "tied_membranes"),
    ("mse_count_loss", SF.mse_count_loss, {}, "spikes"),
    ("mse_count_loss", SF.mse_count_loss, {"correct_rate": 0.8, "incorrect_rate": 0.2}, "spikes"),
    ("mse_count_loss", SF.mse_count_loss, {"correct_rate": 0.3, "incorrect_rate": 0.1}, "spikes"),
    ("mse_membrane_loss", SF.mse_membrane_loss, {}, "membranes"),
    ("mse_membrane_loss", SF.mse_membrane_loss, {"on_target": 1.2, "off_target": 0.3}, "membranes"),
    ("mse_membrane_loss", SF.mse_membrane_loss, {"on_target": 1.0, "off_target": -0.5}, "membranes"),
    ("mse_membrane_loss", SF.mse_membrane_loss, {"on_target": 0.2, "off_target": 0.9}, "membranes"),
]

# (seed, num_steps, batch, features, keyword arguments of spikegen.latency).
LATENCY_CASES = [
    (10, 16, 3, 6, {}),
    (11, 10, 4, 5, {"linear": True, "normalize": True}),
    (12, 25, 3, 6, {"normalize": True, "tau": 5, "threshold": 0.05, "clip": True}),
    (13, 9, 2, 7, {"linear": True, "tau": 8, "clip": True}),
    (14, 30, 3, 4, {"first_spike_time": 3, "tau": 2, "on_target": 1.5, "off_target": 0.25}),
    (15, 12, 2, 5, {"normalize": True, "first_spike_time": 2}),
]


def array(tensor):
    tensor = tensor.detach().to(torch.float64)
    return {"shape": list(tensor.shape), "data": tensor.reshape(-1).tolist()}


def record(kind, generator, num_steps, batch, classes):
    """Draw a random record [num_steps, batch, classes] of one kind."""
    shape = (num_steps, batch, classes)
    if kind == "spikes":
        return torch.bernoulli(torch.full(shape, 0.4, dtype=torch.float64), generator=generator)
    membranes = 1.5 * torch.randn(shape, dtype=torch.float64, generator=generator)
    if kind == "tied_membranes":
        # Step 3 repeats each neuron's maximum, so that the maximum is
        # reached at two steps: the gradient goes to the first of them.
        membranes[3] = membranes.max(dim=0).values
    return membranes


def loss_cases():
    cases = []
    for seed, num_steps, batch, classes in LOSS_SHAPES:
        for index, (name, constructor, kwargs, kind) in enumerate(LOSSES):
            generator = torch.Generator().manual_seed(1000 * seed + index)
            inputs = record(kind, generator, num_steps, batch, classes).requires_grad_(True)
            targets = torch.randint(0, classes, (batch,), generator=generator)

            # ce_rate_loss and mse_membrane_loss return shape [1], the
            # others a scalar; the sum is the same number either way.
            loss = constructor(**kwargs)(inputs, targets).sum()
            (grad,) = torch.autograd.grad(loss, inputs)
            cases.append(
                {
                    "kind": "loss",
                    "loss": name,
                    "options": kwargs,
                    "input_kind": kind,
                    "num_steps": num_steps,
                    "input": array(inputs),
                    "targets": targets.tolist(),
                    "value": loss.item(),
                    "grad": array(grad),
                }
            )
    return cases


def accuracy_cases():
    cases = []
    for seed, num_steps, batch, classes, rate in [(20, 3, 12, 4, 0.15), (21, 10, 8, 10, 0.3)]:
        generator = torch.Generator().manual_seed(seed)
        shape = (num_steps, batch, classes)
        spikes = torch.bernoulli(torch.full(shape, rate, dtype=torch.float64), generator=generator)
        spikes[:, 0, :] = 0.0  # one silent sample
        targets = torch.randint(0, classes, (batch,), generator=generator)
        # Every other target is torch's own argmax of the spike counts (the
        # first index on ties), so that the accuracy counts some matches.
        targets[::2] = spikes.sum(dim=0).argmax(dim=1)[::2]
        cases.append(
            {
                "kind": "accuracy",
                "num_steps": num_steps,
                "input": array(spikes),
                "targets": targets.tolist(),
                "value": float(SF.accuracy_rate(spikes, targets)),
            }
        )
    return cases


def latency_cases():
    cases = []
    for seed, num_steps, batch, features, kwargs in LATENCY_CASES:
        generator = torch.Generator().manual_seed(seed)
        data = torch.rand((batch, features), dtype=torch.float64, generator=generator)
        # The ends of the range and a value below the default threshold.
        data[0, 0], data[0, 1], data[-1, -1] = 0.0, 1.0, 0.004

        code_kwargs = {k: v for k, v in kwargs.items() if k not in ("on_target", "off_target", "clip")}
        spike_time, _ = spikegen.latency_code(data, num_steps=num_steps, **code_kwargs)
        spikes = spikegen.latency(data, num_steps=num_steps, **kwargs)
        cases.append(
            {
                "kind": "latency",
                "num_steps": num_steps,
                "options": kwargs,
                "data": array(data),
                "spike_time": array(spike_time),
                "spikes": array(spikes),
            }
        )
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = parser.parse_args()

    cases = loss_cases() + accuracy_cases() + latency_cases()
    header = {
        "generator": "tools/snntorch-functional/generate.py",
        "snntorch": snntorch.__version__,
        "torch": torch.__version__.split("+")[0],
        "dtype": "float64",
    }
    # One case per line keeps the file small and a changed case visible in
    # a diff.
    lines = [f" {json.dumps(key)}: {json.dumps(value)}," for key, value in header.items()]
    lines.append(' "cases": [')
    lines.append(",\n".join("  " + json.dumps(case, separators=(",", ":")) for case in cases))
    lines.append(" ]")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("{\n" + "\n".join(lines) + "\n}\n")
    print(f"wrote {len(cases)} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write reference cases for the Rust engine with snnTorch and PyTorch.

Two kinds of case, both in the format of tests/fixtures/ (every array is
{"shape": [...], "data": [...]}, flat and row-major, in float64):

  network     A Tutorial 5 network (Linear -> Leaky -> Linear -> Leaky) with
              random weights and inputs drawn from --seed: the per-step
              currents, spikes and membranes, the losses, every gradient,
              the parameters after one Adam step and after --adam-steps.
  surrogates  Spikes and dS/dU of snnTorch's surrogates on a grid of
              membranes around the threshold (--surrogates).

Run it in a virtual environment that has torch, snntorch and numpy; see
README.md beside this file. The output depends only on the options, so a
rerun with the same options writes the same file.
"""

import argparse
import json
import math
import sys

import numpy as np
import torch
import torch.nn as nn

import snntorch as snn
from snntorch import surrogate

torch.set_default_dtype(torch.float64)

PARAMETER_KEYS = {
    "fc1.weight": "W1",
    "fc1.bias": "b1",
    "fc2.weight": "W2",
    "fc2.bias": "b2",
    "lif1.beta": "beta1",
    "lif2.beta": "beta2",
}


class ATanKeepDtype(torch.autograd.Function):
    """snnTorch's ATan surrogate with the spike in the membrane's dtype.

    snnTorch's own surrogate Functions return `(x > 0).float()`, which is
    float32 even in a float64 run. That rounds every gradient that flows
    back through a spike to float32. This Function computes the same forward
    rule and the same backward formula, `alpha/2 / (1 + (pi/2 alpha x)^2)`,
    and keeps float64, so the case contains the exact float64 values of
    snnTorch's equations.
    """

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        slope = ctx.alpha / 2 / (1 + (math.pi / 2 * ctx.alpha * x) ** 2)
        return slope * grad_output, None


def atan_keep_dtype(alpha=2.0):
    return lambda x: ATanKeepDtype.apply(x, alpha)


def flat(tensor):
    tensor = torch.as_tensor(tensor).detach().to(torch.float64)
    return {"shape": list(tensor.shape), "data": [float(v) for v in tensor.reshape(-1).tolist()]}


def flat_or_null(tensor):
    """Like flat(), with NaN and infinity written as null, which JSON allows."""
    array = flat(tensor)
    array["data"] = [v if math.isfinite(v) else None for v in array["data"]]
    return array


def recorded_options(args):
    """Return the options that determine the case, for a rerun. --out does not."""
    return {key: value for key, value in sorted(vars(args).items()) if key != "out"}


def versions():
    return "snnTorch %s, torch %s, float64" % (snn.__version__, torch.__version__)


# ---------------------------------------------------------------------------
# Network cases


class TutorialNet(nn.Module):
    """Tutorial 5's network. Layers are registered fc1, fc2, lif1, lif2, so
    the parameters come in the order the Rust engine uses."""

    def __init__(self, weights, args):
        super().__init__()
        hidden, inputs = weights["W1"].shape
        outputs = weights["W2"].shape[0]
        self.fc1 = nn.Linear(inputs, hidden)
        self.fc2 = nn.Linear(hidden, outputs)
        with torch.no_grad():
            for layer, w, b in ((self.fc1, "W1", "b1"), (self.fc2, "W2", "b2")):
                layer.weight.copy_(torch.from_numpy(weights[w]))
                layer.bias.copy_(torch.from_numpy(weights[b]))
        options = dict(beta=args.beta, threshold=args.threshold, reset_mechanism=args.reset,
                       learn_beta=args.learn_beta, spike_grad=atan_keep_dtype())
        self.lif1 = snn.Leaky(**options)
        self.lif2 = snn.Leaky(**options)

    def forward(self, x, num_steps):
        """Returns each record stacked over the steps: [num_steps, batch, neurons]."""
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        records = {key: [] for key in ("cur1", "spk1", "mem1", "cur2", "spk2", "mem2")}
        for _ in range(num_steps):
            cur1 = self.fc1(x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            for key, value in zip(records, (cur1, spk1, mem1, cur2, spk2, mem2)):
                records[key].append(value)
        return {key: torch.stack(values) for key, values in records.items()}


def summed_loss(mem2, targets):
    """Cross-entropy of each step's output membrane (mean over the batch),
    summed over the steps, and the per-step values."""
    loss_fn = nn.CrossEntropyLoss()
    step_losses = [loss_fn(mem, targets) for mem in mem2]
    return sum(step_losses), torch.stack([l.detach() for l in step_losses])


def random_inputs(args):
    rng = np.random.default_rng(args.seed)
    weights = {
        "W1": rng.uniform(-args.w1_scale, args.w1_scale, (args.hidden, args.inputs)),
        "b1": rng.uniform(-args.b1_scale, args.b1_scale, args.hidden),
        "W2": rng.uniform(-args.w2_scale, args.w2_scale, (args.outputs, args.hidden)),
        "b2": rng.uniform(-args.b2_scale, args.b2_scale, args.outputs),
    }
    # Pixel-like images: whole numbers 0..255 divided by 255.
    x = rng.integers(0, 256, (args.batch, args.inputs)) / 255.0
    targets = rng.integers(0, args.outputs, args.batch)
    return weights, x, targets


def spike_stats(records, threshold):
    stats = {}
    for layer in ("1", "2"):
        spikes = records["spk" + layer].detach()
        margin = (records["mem" + layer].detach() - threshold).abs().min()
        stats["layer" + layer] = {
            "total_spikes": int(spikes.sum()),
            "spike_slots": int(spikes.numel()),
            "min_abs_mem_minus_threshold": float(margin),
        }
    return stats


def network_case(args):
    weights, x_np, targets_np = random_inputs(args)
    net = TutorialNet(weights, args)
    x = torch.from_numpy(x_np)
    targets = torch.from_numpy(targets_np).to(torch.int64)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(args.adam_beta1, args.adam_beta2), eps=args.eps)
    names = [name for name, _ in net.named_parameters()]
    keys = [PARAMETER_KEYS[name] for name in names]

    records = net(x, args.steps)
    loss, step_losses = summed_loss(records["mem2"], targets)
    optimizer.zero_grad()
    loss.backward()
    grads = {key: p.grad.detach().clone() for key, p in zip(keys, net.parameters())}
    optimizer.step()
    after_one = {key: p.detach().clone() for key, p in zip(keys, net.parameters())}

    # Continue on the same batch with the same optimizer state: the loss
    # before each step, then the loss and the parameters after the last.
    losses = [loss.detach()]
    for _ in range(args.adam_steps - 1):
        trajectory_loss, _ = summed_loss(net(x, args.steps)["mem2"], targets)
        losses.append(trajectory_loss.detach())
        optimizer.zero_grad()
        trajectory_loss.backward()
        optimizer.step()
    with torch.no_grad():
        final_loss, _ = summed_loss(net(x, args.steps)["mem2"], targets)

    case = {
        "case": args.name,
        "description": "%d-%d-%d network, %d steps, batch %d, beta %g (%s), threshold %g, reset %s, ATan(alpha=2), seed %d"
                       % (args.inputs, args.hidden, args.outputs, args.steps, args.batch, args.beta,
                          "learnable" if args.learn_beta else "fixed", args.threshold, args.reset, args.seed),
        "generator": "tools/snntorch-reference/generate.py (%s)" % versions(),
        "options": recorded_options(args),
        "layout": "flat row-major arrays with their shape; Linear weights [out, in], bias [out]; "
                  "per-step records [num_steps, batch, neurons]",
        "config": {
            "num_inputs": args.inputs, "num_hidden": args.hidden, "num_outputs": args.outputs,
            "num_steps": args.steps, "batch": args.batch, "beta": args.beta, "threshold": args.threshold,
            "reset_mechanism": args.reset, "learn_beta": args.learn_beta,
            "beta_shape": "one scalar per layer, both layers starting at beta",
            "surrogate": "atan(alpha=2.0), float64",
            "spike_forward": "S = 1 if U - threshold > 0 else 0",
            "initial_state": "mem1 = mem2 = 0",
            "loss": "sum over steps of CrossEntropyLoss (mean over the batch) of mem2 against targets",
            "optimizer": {"name": "Adam", "lr": args.lr, "betas": [args.adam_beta1, args.adam_beta2], "eps": args.eps,
                          "weight_decay": 0.0, "amsgrad": False, "param_order": names},
        },
    }
    for key in ("W1", "b1", "W2", "b2"):
        case[key] = flat(torch.from_numpy(weights[key]))
    case["x"] = flat(x)
    case["targets"] = {"shape": [args.batch], "data": [int(v) for v in targets_np]}
    for key, value in records.items():
        case[key] = flat(value)
    case["step_losses"] = flat(step_losses)
    case["loss"] = float(loss.detach())
    for key in keys:
        case["grad_" + key] = flat(grads[key])
    for key in keys:
        case[key + "_after"] = flat(after_one[key])
    case["adam_trajectory"] = {
        "description": "%d Adam steps on the same batch from the initial parameters; step 1 gives the *_after values"
                       % args.adam_steps,
        "steps": args.adam_steps,
        "losses_before_each_step": flat(torch.stack(losses)),
        "loss_after_last_step": float(final_loss),
    }
    for key, p in zip(keys, net.parameters()):
        case["adam_trajectory"][key] = flat(p)
    case["spike_stats"] = spike_stats(records, args.threshold)
    return case


def warn_about_spikes(case):
    """Warns when a layer never or always spikes, or when a membrane comes so
    close to the threshold that float32 may decide the spike differently."""
    for layer, stats in case["spike_stats"].items():
        if stats["total_spikes"] in (0, stats["spike_slots"]):
            print("warning: %s spikes in %d of %d slots, so the case tests little; try another --seed or scale"
                  % (layer, stats["total_spikes"], stats["spike_slots"]), file=sys.stderr)
        if stats["min_abs_mem_minus_threshold"] < 1e-4:
            print("warning: a %s membrane is %.1e from the threshold, so float32 may flip its spike; try another --seed"
                  % (layer, stats["min_abs_mem_minus_threshold"]), file=sys.stderr)


# ---------------------------------------------------------------------------
# Surrogate cases


def surrogate_case(args):
    threshold = args.threshold
    offsets = [-1e20, -30.0, -4.0, -2.0, -1.0, -0.5, -0.1, -1e-3, -1e-9, 0.0,
               1e-9, 1e-3, 0.1, 0.5, 1.0, 2.0, 4.0, 30.0, 1e20]
    mem = torch.tensor([threshold + d for d in offsets])
    shapes = {
        "atan_alpha2": surrogate.atan(alpha=2.0),
        "fast_sigmoid_slope25": surrogate.fast_sigmoid(slope=25),
        "sigmoid_slope25": surrogate.sigmoid(slope=25),
        "triangular_threshold1": surrogate.triangular(threshold=1),
        "straight_through": surrogate.straight_through_estimator(),
    }
    case = {
        "case": args.name,
        "description": "spike and dS/dU of snnTorch's surrogates with their default parameters, through "
                       "snn.Leaky(threshold=%g).fire(mem) with an upstream gradient of 1; null where snnTorch "
                       "returns NaN" % threshold,
        "generator": "tools/snntorch-reference/generate.py (%s)" % versions(),
        "options": recorded_options(args),
        "threshold": threshold,
        "mem": flat(mem),
    }
    for name, spike_grad in shapes.items():
        leaky = snn.Leaky(beta=0.9, threshold=threshold, spike_grad=spike_grad)
        u = mem.clone().requires_grad_(True)
        spikes = leaky.fire(u)
        spikes.backward(torch.ones_like(spikes))
        case["spike"] = flat(spikes)
        case["grad_" + name] = flat_or_null(u.grad)
    return case


# ---------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="path of the JSON file to write")
    parser.add_argument("--name", default="generated", help="the case's name, stored under \"case\"")
    parser.add_argument("--surrogates", action="store_true",
                        help="write the surrogate case instead of a network case")

    parser.add_argument("--inputs", type=int, default=5, help="inputs per image (default 5)")
    parser.add_argument("--hidden", type=int, default=7, help="hidden neurons (default 7)")
    parser.add_argument("--outputs", type=int, default=3, help="output neurons, one per class (default 3)")
    parser.add_argument("--steps", type=int, default=4, help="time steps (default 4)")
    parser.add_argument("--batch", type=int, default=3, help="images in the batch (default 3)")
    parser.add_argument("--beta", type=float, default=0.9, help="initial membrane decay of both layers (default 0.9)")
    parser.add_argument("--threshold", type=float, default=1.0, help="firing threshold (default 1.0)")
    parser.add_argument("--reset", choices=("subtract", "zero", "none"), default="subtract",
                        help="reset_mechanism (default subtract)")
    parser.add_argument("--learn-beta", action="store_true", help="make beta a trained parameter of each layer")

    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, images and labels (default 0)")

    parser.add_argument("--w1-scale", type=float, default=1.0, help="W1 is uniform in [-scale, scale) (default 1.0)")
    parser.add_argument("--b1-scale", type=float, default=0.2, help="b1 is uniform in [-scale, scale) (default 0.2)")
    parser.add_argument("--w2-scale", type=float, default=1.5, help="W2 is uniform in [-scale, scale) (default 1.5)")
    parser.add_argument("--b2-scale", type=float, default=0.3, help="b2 is uniform in [-scale, scale) (default 0.3)")

    parser.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate (default 5e-4)")
    parser.add_argument("--adam-beta1", type=float, default=0.9, help="Adam beta1 (default 0.9)")
    parser.add_argument("--adam-beta2", type=float, default=0.999, help="Adam beta2 (default 0.999)")
    parser.add_argument("--eps", type=float, default=1e-8, help="Adam eps (default 1e-8)")
    parser.add_argument("--adam-steps", type=int, default=3, help="Adam steps of adam_trajectory (default 3)")

    args = parser.parse_args()
    for option in ("inputs", "hidden", "outputs", "steps", "batch", "adam_steps"):
        if getattr(args, option) < 1:
            parser.error("--%s must be at least 1" % option.replace("_", "-"))
    return args


def main():
    args = parse_args()
    if args.surrogates:
        case = surrogate_case(args)
    else:
        case = network_case(args)
        warn_about_spikes(case)
    with open(args.out, "w") as f:
        json.dump(case, f, indent=1)
        f.write("\n")
    print("wrote %s (%s)" % (args.out, case["description"]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Run snnTorch's Tutorial 5 and mnist-fcn on the same data, alternating,
and print both programs' times, accuracies and peak memory.

Usage (from the repository root, after `cargo build --release -p mnist-fcn`):

    python3 scripts/compare_snntorch.py --snntorch-script PATH/snntorch_tut5.py \\
        --python VENV/bin/python --data /usr/share/datasets/fashion-mnist \\
        [--protocol fashion] [--seeds 0 1 2] [--out results.json]

PATH/snntorch_tut5.py is a script that runs the tutorial with snnTorch and
accepts `--data DIR --protocol fashion|digits-t10k --seed S --json OUT`,
writing `epoch_results[0].epoch_wall_s`, `test_acc`,
`eval_diagnostics.correct_mem_sum_argmax` and `inference_repeats`.
VENV is a virtual environment with torch and snntorch
(`python3 -m venv VENV && VENV/bin/pip install torch snntorch numpy`).

Each seed runs mnist-fcn, then snnTorch, so that both see the same load on
the machine. Both run with their default thread counts. Peak memory is
the maximum resident set size reported by /usr/bin/time -v. The protocol
digits-t10k expects the original MNIST t10k files for snnTorch and the
digits-t10k split for mnist-fcn: pass --rust-data for the latter.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "mnist-fcn")


def run_timed(command):
    """Run `command` under /usr/bin/time -v; return its peak RSS in MiB."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"command failed with exit code {result.returncode}: {' '.join(command)}\n{result.stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    return int(match.group(1)) / 1024 if match else float("nan")


def run_rust(args, seed, workdir):
    metrics_path = os.path.join(workdir, f"rust-seed{seed}.json")
    command = [BINARY, "--data-dir", args.rust_data or args.data, "--seed", str(seed),
               "--out-dir", os.path.join(workdir, f"rust-seed{seed}"), "--metrics-json", metrics_path, "--quiet"]
    if args.protocol == "fashion":
        command += ["--dataset", "fashion"]
    rss = run_timed(command)
    with open(metrics_path) as f:
        metrics = json.load(f)
    return {
        "train_seconds": metrics["train_seconds"],
        "test_accuracy": metrics["test_accuracy"],
        "test_accuracy_membrane": metrics["test_accuracy_membrane"],
        "inference_seconds": metrics["eval_seconds"],
        "peak_rss_mib": rss,
    }


def run_snntorch(args, seed, workdir):
    json_path = os.path.join(workdir, f"snntorch-seed{seed}.json")
    command = [args.python, args.snntorch_script, "--data", args.data, "--protocol", args.protocol,
               "--seed", str(seed), "--json", json_path]
    rss = run_timed(command)
    with open(json_path) as f:
        result = json.load(f)
    epoch = result["epoch_results"][0]
    total = epoch["test_total"]
    return {
        "train_seconds": epoch["epoch_wall_s"],
        "test_accuracy": epoch["test_acc"],
        "test_accuracy_membrane": epoch["eval_diagnostics"]["correct_mem_sum_argmax"] / total,
        "inference_seconds": statistics.median(r["seconds"] for r in result["inference_repeats"]),
        "peak_rss_mib": rss,
    }


def summary(runs, key):
    values = [run[key] for run in runs]
    return statistics.median(values), statistics.fmean(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snntorch-script", required=True, help="path of the snnTorch Tutorial 5 script")
    parser.add_argument("--python", default=sys.executable, help="Python with torch and snntorch installed")
    parser.add_argument("--data", required=True, help="data folder for the snnTorch script")
    parser.add_argument("--rust-data", help="data folder for mnist-fcn, when it differs from --data")
    parser.add_argument("--protocol", default="fashion", choices=["fashion", "digits-t10k"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", help="also write every run and the summary to this JSON file")
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: run `cargo build --release -p mnist-fcn` first")

    rust, torch = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for seed in args.seeds:
            rust.append(run_rust(args, seed, workdir))
            print(f"seed {seed} mnist-fcn: {json.dumps(rust[-1])}", flush=True)
            torch.append(run_snntorch(args, seed, workdir))
            print(f"seed {seed} snnTorch:  {json.dumps(torch[-1])}", flush=True)

    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}")
    print(f"protocol {args.protocol}, seeds {args.seeds}, 1 epoch each\n")
    print("| figure | mnist-fcn | snnTorch | ratio |")
    print("|---|---:|---:|---:|")
    rows = {}
    for key, label in [("train_seconds", "train time, median (s)"), ("inference_seconds", "inference, test set, median (s)"),
                       ("peak_rss_mib", "peak RSS, median (MiB)")]:
        ours, theirs = summary(rust, key)[0], summary(torch, key)[0]
        rows[key] = {"mnist_fcn": ours, "snntorch": theirs, "speedup": theirs / ours}
        print(f"| {label} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |")
    for key, label in [("test_accuracy_membrane", "test_accuracy_membrane, mean"), ("test_accuracy", "test_accuracy (rate), mean")]:
        ours, theirs = summary(rust, key)[1], summary(torch, key)[1]
        rows[key] = {"mnist_fcn": ours, "snntorch": theirs}
        per_seed = ", ".join(f"{r[key]:.4f}/{t[key]:.4f}" for r, t in zip(rust, torch))
        print(f"| {label} | {ours:.4f} | {theirs:.4f} | per seed {per_seed} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"protocol": args.protocol, "seeds": args.seeds, "mnist_fcn": rust, "snntorch": torch,
                       "summary": rows}, f, indent=1)


if __name__ == "__main__":
    main()

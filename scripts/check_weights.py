#!/usr/bin/env python3
"""Check a weights.safetensors file written by mnist-fcn from Python.

Usage:

    python3 scripts/check_weights.py --weights RUN/weights.safetensors \\
        --data-dir DATA --metrics EVAL.json [--hidden 100] [--num-steps 5] [--beta 0.95]

Needs the `safetensors` and `numpy` packages. DATA is the folder the
program read (the four IDX files, raw or gzip-compressed as NAME.gz), and
EVAL.json the metrics file of `mnist-fcn --load WEIGHTS --eval-only` on it.

The script checks that the file contains exactly fc1.weight [hidden, 784],
fc1.bias [hidden], fc2.weight [10, hidden] and fc2.bias [10], all float32
and finite. Then it runs the network on every test image in numpy, with
snnTorch's Leaky neuron (snntorch.Leaky with its defaults: threshold 1,
reset by subtraction, the reset decided from the previous step's membrane,
a spike when the membrane exceeds the threshold strictly), and compares the
accuracy of the summed output membrane with the program's
test_accuracy_membrane. numpy computes in float64 and the program in
float32, so a rare near-tie may fall the other way: the two accuracies may
differ by one image. Exits with status 1 on any mismatch.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
GZIP_MAGIC = b"\x1f\x8b"
THRESHOLD = 1.0


def read_idx(data_dir, name):
    """Return the decompressed bytes of DATA/NAME, or of DATA/NAME.gz."""
    for path in (os.path.join(data_dir, name), os.path.join(data_dir, name + ".gz")):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                raw = f.read()
            return path, gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw
    sys.exit(f"error: {data_dir} has neither {name} nor {name}.gz")


def read_test_images(data_dir):
    """Return the test images as float64 [count, 784] in [0, 1]."""
    path, data = read_idx(data_dir, "t10k-images-idx3-ubyte")
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGE_MAGIC or (rows, cols) != (28, 28):
        sys.exit(f"error: {path} is not an IDX file of 28x28 images (magic {magic:#010x}, {rows}x{cols})")
    pixels = np.frombuffer(data, dtype=np.uint8, count=count * rows * cols, offset=16)
    return pixels.reshape(count, rows * cols).astype(np.float64) / 255.0


def read_test_labels(data_dir):
    path, data = read_idx(data_dir, "t10k-labels-idx1-ubyte")
    magic, count = struct.unpack(">II", data[:8])
    if magic != LABEL_MAGIC:
        sys.exit(f"error: {path} is not an IDX label file (magic {magic:#010x})")
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=8).astype(np.int64)


def leaky_step(current, membrane, beta):
    """One step of snntorch.Leaky with reset by subtraction; returns (spikes, membrane)."""
    reset = (membrane - THRESHOLD > 0).astype(np.float64)
    membrane = beta * membrane + current - reset * THRESHOLD
    spikes = (membrane - THRESHOLD > 0).astype(np.float64)
    return spikes, membrane


def forward(weights, images, num_steps, beta):
    """Run Tutorial 5's network on `images`; return output spike counts and summed membranes."""
    fc1_w, fc1_b = weights["fc1.weight"].astype(np.float64), weights["fc1.bias"].astype(np.float64)
    fc2_w, fc2_b = weights["fc2.weight"].astype(np.float64), weights["fc2.bias"].astype(np.float64)
    mem1 = np.zeros((images.shape[0], fc1_w.shape[0]))
    mem2 = np.zeros((images.shape[0], fc2_w.shape[0]))
    spike_counts = np.zeros_like(mem2)
    membrane_sum = np.zeros_like(mem2)
    # The input is the same at every step, so fc1's output is too.
    cur1 = images @ fc1_w.T + fc1_b
    for _ in range(num_steps):
        spk1, mem1 = leaky_step(cur1, mem1, beta)
        spk2, mem2 = leaky_step(spk1 @ fc2_w.T + fc2_b, mem2, beta)
        spike_counts += spk2
        membrane_sum += mem2
    return spike_counts, membrane_sum


def check_tensors(weights, hidden):
    """Return a list of problems with the names, shapes, dtypes and values."""
    expected = {
        "fc1.weight": (hidden, 784),
        "fc1.bias": (hidden,),
        "fc2.weight": (10, hidden),
        "fc2.bias": (10,),
    }
    problems = []
    if sorted(weights) != sorted(expected):
        problems.append(f"tensor names are {sorted(weights)}, expected {sorted(expected)}")
    for name, shape in expected.items():
        if name not in weights:
            continue
        tensor = weights[name]
        if tensor.shape != shape:
            problems.append(f"{name} has shape {list(tensor.shape)}, expected {list(shape)}")
        if tensor.dtype != np.float32:
            problems.append(f"{name} has dtype {tensor.dtype}, expected float32")
        if not np.all(np.isfinite(tensor)):
            problems.append(f"{name} has {np.count_nonzero(~np.isfinite(tensor))} non-finite values")
        print(f"{name}: shape {list(tensor.shape)}, {tensor.dtype}, "
              f"values in [{tensor.min():.4f}, {tensor.max():.4f}]")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="weights.safetensors written by mnist-fcn")
    parser.add_argument("--data-dir", required=True, help="folder with the four IDX files")
    parser.add_argument("--metrics", required=True, help="metrics JSON of mnist-fcn --eval-only on these weights")
    parser.add_argument("--hidden", type=int, default=1000, help="hidden neurons of the saved network")
    parser.add_argument("--num-steps", type=int, default=25, help="time steps the program used")
    parser.add_argument("--beta", type=float, default=0.95, help="membrane decay the program used")
    args = parser.parse_args()

    weights = load_file(args.weights)
    print(f"{args.weights}: {len(weights)} tensors")
    problems = check_tensors(weights, args.hidden)
    if problems:
        for problem in problems:
            print(f"MISMATCH: {problem}")
        sys.exit(1)

    images, labels = read_test_images(args.data_dir), read_test_labels(args.data_dir)
    if len(images) != len(labels):
        sys.exit(f"error: {len(images)} test images but {len(labels)} labels in {args.data_dir}")
    spike_counts, membrane_sum = forward(weights, images, args.num_steps, args.beta)
    correct_membrane = int(np.count_nonzero(membrane_sum.argmax(axis=1) == labels))
    correct_rate = int(np.count_nonzero(spike_counts.argmax(axis=1) == labels))

    with open(args.metrics) as f:
        metrics = json.load(f)
    count = len(labels)
    numpy_accuracy = correct_membrane / count
    program_accuracy = metrics["test_accuracy_membrane"]
    print(f"numpy forward pass, {args.num_steps} steps, beta {args.beta}, on {count} test images:")
    print(f"  accuracy by summed membrane: numpy {numpy_accuracy:.4f} ({correct_membrane}/{count}), "
          f"program {program_accuracy:.4f} ({metrics['test_correct_membrane']}/{metrics['test_images']})")
    print(f"  accuracy by spike count:     numpy {correct_rate / count:.4f}, program {metrics['test_accuracy']:.4f} "
          "(not compared: a spike that float32 rounding flips changes later counts)")

    if metrics["test_images"] != count:
        print(f"MISMATCH: the program evaluated {metrics['test_images']} images, the data folder has {count}")
        sys.exit(1)
    # Allow one image of difference, plus rounding of the two divisions.
    if abs(numpy_accuracy - program_accuracy) > 1 / count + 1e-12 or not math.isfinite(program_accuracy):
        print(f"MISMATCH: the accuracies differ by more than one image in {count}")
        sys.exit(1)
    print("OK: names, shapes, dtype and values match, and numpy reproduces the program's accuracy")


if __name__ == "__main__":
    main()

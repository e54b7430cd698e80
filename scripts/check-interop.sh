#!/usr/bin/env bash
# Checks that the weights mnist-fcn writes load in Python and compute what
# the program computes. It trains a small network (100 hidden neurons, 5 time
# steps) on digits-t10k and evaluates the saved file with --eval-only. Then
# scripts/check_weights.py checks the file, in a fresh virtual environment
# with safetensors and numpy from PyPI.
#
# Needs SNN_DATA_DIR (a folder containing digits-t10k/), python3 with venv,
# and access to PyPI. Everything it creates goes to a temporary folder that
# is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SNN_DATA_DIR:-}" ]; then
    echo "SNN_DATA_DIR is unset: set it to a folder containing digits-t10k/" >&2
    exit 1
fi
data="$SNN_DATA_DIR/digits-t10k"
if [ ! -d "$data" ]; then
    echo "$data: folder not found" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== python3 -m venv, pip install safetensors numpy"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check safetensors numpy
"$work/venv/bin/python" -c 'import numpy, safetensors; print(f"numpy {numpy.__version__}, safetensors {safetensors.__version__}")'

size=(--hidden 100 --num-steps 5)
echo "== mnist-fcn: train, then --eval-only on the saved weights"
cargo run --release --quiet -p mnist-fcn -- \
    --data-dir "$data" "${size[@]}" --out-dir "$work/run" --quiet
cargo run --release --quiet -p mnist-fcn -- \
    --data-dir "$data" "${size[@]}" --load "$work/run/weights.safetensors" --eval-only \
    --metrics-json "$work/eval.json" --quiet

echo "== check_weights.py"
"$work/venv/bin/python" scripts/check_weights.py \
    --weights "$work/run/weights.safetensors" --data-dir "$data" --metrics "$work/eval.json" "${size[@]}"

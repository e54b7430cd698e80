#!/usr/bin/env bash
# Reruns the book's listings and figures and writes what they print into
# book/listings/ and book/src/figures/, where the chapters include them.
#
#   scripts/book-capture.sh            rerun every fast listing and figure, write the files
#   scripts/book-capture.sh --check    rerun them into a temporary folder; fail if any
#                                      captured file or figure would change
#   scripts/book-capture.sh --train    also rerun the training report on the digits-t10k
#                                      split and copy that run's figures, so that every
#                                      figure of the book is redrawn (needs SNN_DATA_DIR;
#                                      takes a few minutes)
#
# The listings use fixed seeds, so a rerun on the same code prints the same
# text. The training report records wall-clock times and the machine, so
# --check never reruns it.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=write
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    --train) mode=train ;;
    *) echo "usage: $0 [--check | --train]" >&2; exit 2 ;;
esac

# Every example whose output the book shows, by name.
listings=(
    book_tensor
    book_tape
    book_backward
    book_custom_function
    book_gradcheck
    book_leaky
    book_dead_neuron
    book_bptt
    book_tape_memory
    book_loss_decoding
    book_network
    book_adam
    book_train_step
    book_idx
)

listings_dir=book/listings
figures_dir=book/src/figures
out_listings=$listings_dir
out_figures=$figures_dir
if [ "$mode" = check ]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    out_listings=$scratch/listings
    out_figures=$scratch/figures
fi
mkdir -p "$out_listings" "$out_figures"

# The examples are built once, together, and run from the target folder:
# `cargo run -p` on one package at a time could unify features differently
# and rebuild the dependencies for every listing.
examples_dir=${CARGO_TARGET_DIR:-target}/release/examples
run_example() {
    local example=$1
    shift
    "$examples_dir/$example" "$@"
}

if [ "$mode" = train ]; then
    : "${SNN_DATA_DIR:?set SNN_DATA_DIR to the folder that holds digits-t10k/}"
    echo "== training on the digits-t10k split (minutes)"
    cargo build --release --quiet -p mnist-fcn
    program=$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/mnist-fcn
    work=$(mktemp -d)
    # A relative --data-dir keeps this machine's paths out of the captured text.
    # The program runs from the work folder as built here: `cargo run` from
    # there would miss .cargo/config.toml and rebuild for a generic CPU.
    ln -s "$SNN_DATA_DIR/digits-t10k" "$work/digits-t10k"
    (cd "$work" && "$program" --data-dir digits-t10k --out-dir run) >"$work/report.txt"
    # The program prints the data folder as an absolute path; keep only its name.
    sed "s|$work/||g" "$work/report.txt" >"$listings_dir/train-digits-t10k.txt"
    sed "s|$work/||g" "$work/run/metrics.json" >"$listings_dir/train-digits-t10k-metrics.json"
    # Figures that the program drew from the same run. The spike raster is
    # kept as PNG, because its SVG has one element per spike (about 640 KB).
    cp "$work/run/figures/spike_raster.png" "$figures_dir/spike-raster-digits-t10k.png"
    cp "$work/run/figures/membrane_traces.svg" "$figures_dir/membrane-digits-t10k.svg"
    {
        echo "\$ cargo run --release -p mnist-fcn -- --data-dir \$SNN_DATA_DIR/digits-t10k"
        echo "CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) cores (nproc)"
        echo "rustc: $(rustc --version)"
    } >"$listings_dir/train-digits-t10k-machine.txt"
    # The same run with seeds 0 to 4, final accuracy only: how much each
    # decoding varies with the seed.
    for seed in 0 1 2 3 4; do
        echo "seed $seed"
        (cd "$work" && "$program" --data-dir digits-t10k --out-dir "run-seed$seed" --seed "$seed" --quiet) |
            grep -E 'Accuracy|tied'
    done >"$listings_dir/train-digits-t10k-seeds.txt"
    # The same run, seed 0, with each engine and each input encoding: final
    # accuracy and training time.
    variants=("--engine fused" "--engine unrolled" "--encoding rate" "--encoding latency")
    for variant in "${variants[@]}"; do
        read -ra options <<<"$variant"
        echo "$variant"
        (cd "$work" && "$program" --data-dir digits-t10k --out-dir run-variant --quiet "${options[@]}") |
            grep -E 'Accuracy|Training time'
    done >"$listings_dir/train-digits-t10k-variants.txt"
    rm -rf "$work"
fi

echo "== building the listings"
cargo build --release --quiet -p autodiff -p snn -p mnist-fcn --examples

for example in "${listings[@]}"; do
    echo "-- $example"
    run_example "$example" >"$out_listings/$example.txt"
done

echo "-- figures"
run_example book_surrogates "$out_figures/surrogates.svg" >"$out_listings/book_surrogates.txt"
run_example book_loss_curve "$listings_dir/train-digits-t10k-metrics.json" \
    "$out_figures/loss-digits-t10k.svg" >"$out_listings/book_loss_curve.txt"


if [ "$mode" = check ]; then
    changed=0
    for file in "$out_listings"/*.txt; do
        name=$(basename "$file")
        if ! diff -u "$listings_dir/$name" "$file"; then
            echo "book/listings/$name would change" >&2
            changed=1
        fi
    done
    for file in "$out_figures"/*.svg; do
        name=$(basename "$file")
        if ! cmp -s "$figures_dir/$name" "$file"; then
            echo "book/src/figures/$name would change" >&2
            changed=1
        fi
    done
    if [ "$changed" -ne 0 ]; then
        echo "captured output is stale: run scripts/book-capture.sh and commit the result" >&2
        exit 1
    fi
    echo "every captured listing and figure is up to date"
fi

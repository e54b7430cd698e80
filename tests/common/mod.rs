//! Small networks and batches shared by the test binaries.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use autodiff::{Float, Tensor};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::{Net, NetConfig};

/// Builds a Tutorial 5 network of the given size with PyTorch's initialisation,
/// beta 0.9, threshold 1 and subtract reset.
pub fn small_net<F: Float>(
    inputs: usize,
    hidden: usize,
    outputs: usize,
    num_steps: usize,
    seed: u64,
) -> Net<F> {
    let config = NetConfig {
        num_inputs: inputs,
        num_hidden: hidden,
        num_outputs: outputs,
        num_steps,
        beta: 0.9,
    };
    Net::new(&config, &mut StdRng::seed_from_u64(seed))
}

/// Draws pixel-like images `[batch, inputs]`, uniform in `[0, 1)`.
pub fn random_images<F: Float>(batch: usize, inputs: usize, seed: u64) -> Tensor<F> {
    let mut rng = StdRng::seed_from_u64(seed);
    let data = (0..batch * inputs)
        .map(|_| F::from_f64(rng.random_range(0.0..1.0)))
        .collect();
    Tensor::from_vec(data, &[batch, inputs])
}

/// Draws `batch` labels, uniform in `[0, classes)`.
pub fn random_labels(batch: usize, classes: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..batch).map(|_| rng.random_range(0..classes)).collect()
}

/// Returns the bits of every parameter, to compare parameters exactly (NaN
/// included).
pub fn parameter_bits<F: Float>(net: &Net<F>) -> Vec<Vec<u64>> {
    net.parameters()
        .into_iter()
        .map(|(_, t)| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

//! The dead-neuron problem: with the step's true derivative no gradient
//! reaches the weights; with a surrogate it does. Run with
//! `cargo run -p snn --example book_dead_neuron`.

use autodiff::{Float, Surrogate, Tape, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use snn::{Leaky, Linear, SpikeGrad};

// ANCHOR: true_derivative
/// The derivative of the step itself: 0 wherever it exists. (At exactly
/// U = threshold it does not exist; a float almost never lands there.)
#[derive(Clone, Copy)]
struct StepDerivative;

impl<F: Float> Surrogate<F> for StepDerivative {
    fn grad(&self, _x: F) -> F {
        F::ZERO
    }
}
// ANCHOR_END: true_derivative

// ANCHOR: run
/// Runs a layer of 3 Leaky neurons for 10 steps on a fixed input and returns
/// the loss and the gradient of the loss with respect to the weights.
/// The loss rewards neuron 0 for spiking at every step and the others for
/// staying silent: L = sum over steps of sum((S[t] - target)^2).
fn weight_gradient(
    surrogate: impl Surrogate<f64> + Copy,
) -> (f64, Tensor<f64>) {
    let mut rng = StdRng::seed_from_u64(7);
    let fc = Linear::<f64>::new(6, 3, &mut rng);
    let lif = Leaky::<f64>::new(0.9);

    let tape = Tape::new();
    let fc_vars = fc.register(&tape);
    let lif_vars = lif.register(&tape);
    let x = tape.constant(Tensor::from_vec(
        (0..24).map(|i| (i % 5) as f64 / 4.0).collect(),
        &[4, 6],
    ));
    let target =
        tape.constant(Tensor::from_vec([1.0, 0.0, 0.0].repeat(4), &[4, 3]));

    let current = Linear::forward(&fc_vars, x);
    let mut mem = Leaky::init_leaky(&tape, 4, 3);
    let mut loss = tape.constant(Tensor::scalar(0.0));
    for _ in 0..10 {
        let (_, next) = lif.step(&lif_vars, current, mem);
        mem = next;
        // The spike again, with the surrogate under test in its backward rule.
        let spikes = mem.spike(lif_vars.threshold, surrogate);
        let error = spikes.sub(target);
        loss = loss.add(error.mul(error).sum());
    }
    let grads = loss.backward();
    (loss.item(), grads.get_or_zeros(fc_vars.weight))
}
// ANCHOR_END: run

// ANCHOR: compare
/// Prints the loss and the weight gradient with each derivative.
fn compare_derivatives() {
    println!(
        "{:<16} {:>5} {:>15} {:>12}",
        "dS/dU", "loss", "dL/dW != 0", "max |dL/dW|"
    );
    for (name, (loss, grad)) in [
        ("step derivative", weight_gradient(StepDerivative)),
        ("ATan surrogate", weight_gradient(SpikeGrad::atan())),
    ] {
        let nonzero = grad.data().iter().filter(|g| **g != 0.0).count();
        let largest = grad.data().iter().fold(0.0_f64, |m, g| m.max(g.abs()));
        let count = format!("{nonzero} of {}", grad.len());
        println!("{name:<16} {loss:>5} {count:>15} {largest:>12.4}");
    }
}
// ANCHOR_END: compare

fn main() {
    compare_derivatives();
    let (_, dead) = weight_gradient(StepDerivative);
    assert!(dead.data().iter().all(|g| *g == 0.0));
    let (_, alive) = weight_gradient(SpikeGrad::atan());
    assert!(alive.data().iter().any(|g| *g != 0.0));
}

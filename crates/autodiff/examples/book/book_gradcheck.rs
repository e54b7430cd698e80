//! One finite-difference gradient check, in f64: the gradient from backward
//! against central differences of the loss. Run with
//! `cargo run -p autodiff --example book_gradcheck`.

use autodiff::{ATan, Tape, Tensor};

// ANCHOR: loss
/// The loss of a small linear classifier: cross-entropy of `x W^T + b`.
fn loss(weight: &Tensor<f64>, bias: &Tensor<f64>) -> f64 {
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_vec(
        vec![0.2, -0.4, 0.9, 0.5, 0.1, -0.3],
        &[2, 3],
    ));
    let logits =
        x.linear(tape.constant(weight.clone()), tape.constant(bias.clone()));
    logits
        .cross_entropy(&[1, 0])
        .expect("labels 1 and 0 are valid for 2 classes")
        .item()
}
// ANCHOR_END: loss

// ANCHOR: analytic
/// Computes dL/dW with one backward pass.
fn analytic_gradient(weight: &Tensor<f64>, bias: &Tensor<f64>) -> Tensor<f64> {
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_vec(
        vec![0.2, -0.4, 0.9, 0.5, 0.1, -0.3],
        &[2, 3],
    ));
    let w = tape.leaf(weight.clone());
    let b = tape.leaf(bias.clone());
    let grads = x.linear(w, b).cross_entropy(&[1, 0]).unwrap().backward();
    grads.get(w).unwrap().clone()
}
// ANCHOR_END: analytic

// ANCHOR: numeric
/// The step h of the central differences. Their error shrinks as h^2, and
/// rounding adds about 1e-16 / h, so h = 1e-6 suits f64.
const H: f64 = 1e-6;

/// Compares `analytic` with central differences: nudge one weight by +h
/// and -h, and divide the change in the loss by 2h. Returns the largest
/// relative error.
fn largest_relative_error(
    weight: &Tensor<f64>,
    bias: &Tensor<f64>,
    analytic: &Tensor<f64>,
) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..weight.len() {
        let mut plus = weight.clone();
        plus.data_mut()[i] += H;
        let mut minus = weight.clone();
        minus.data_mut()[i] -= H;
        let numeric = (loss(&plus, bias) - loss(&minus, bias)) / (2.0 * H);

        let exact = analytic.data()[i];
        let error = (numeric - exact).abs() / exact.abs().max(1e-8);
        worst = worst.max(error);
        println!(
            "dL/dW[{i}]: backward {exact:+.8}, central difference {numeric:+.8}"
        );
    }
    println!("largest relative error below 1e-7: {}", worst < 1e-7);
    worst
}
// ANCHOR_END: numeric

// ANCHOR: step
/// Prints the central difference of the spike and its surrogate gradient at
/// U = 0.8. The difference cannot check the surrogate: away from the
/// threshold the step is flat, so the difference is 0, while backward
/// returns the ATan surrogate's value there.
fn spike_difference_and_surrogate() {
    let membrane = 0.8;
    let spike_at = |u: f64| {
        let tape = Tape::new();
        let u = tape.constant(Tensor::scalar(u));
        u.spike(tape.constant(Tensor::scalar(1.0)), ATan::default())
            .item()
    };
    let numeric = (spike_at(membrane + H) - spike_at(membrane - H)) / (2.0 * H);
    let tape = Tape::new();
    let u = tape.leaf(Tensor::scalar(membrane));
    let surrogate = u
        .spike(tape.constant(Tensor::scalar(1.0)), ATan::default())
        .backward();
    println!(
        "at U = {membrane}: central difference {numeric}, surrogate {:.4}",
        surrogate.get(u).unwrap().item()
    );
}
// ANCHOR_END: step

fn main() {
    let weight =
        Tensor::from_vec(vec![0.3, -0.2, 0.5, -0.7, 0.4, 0.1], &[2, 3]);
    let bias = Tensor::from_vec(vec![0.05, -0.05], &[2]);

    let analytic = analytic_gradient(&weight, &bias);
    let worst = largest_relative_error(&weight, &bias, &analytic);
    assert!(
        worst < 1e-7,
        "gradient check failed: relative error {worst:e}"
    );

    spike_difference_and_surrogate();
}

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

fn main() {
    let weight =
        Tensor::from_vec(vec![0.3, -0.2, 0.5, -0.7, 0.4, 0.1], &[2, 3]);
    let bias = Tensor::from_vec(vec![0.05, -0.05], &[2]);

    // ANCHOR: analytic
    // The gradient from one backward pass.
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_vec(
        vec![0.2, -0.4, 0.9, 0.5, 0.1, -0.3],
        &[2, 3],
    ));
    let w = tape.leaf(weight.clone());
    let b = tape.leaf(bias.clone());
    let grads = x.linear(w, b).cross_entropy(&[1, 0]).unwrap().backward();
    let analytic = grads.get(w).unwrap().clone();
    // ANCHOR_END: analytic

    // ANCHOR: numeric
    // Central differences: nudge one weight by +h and -h, and divide the
    // change in the loss by 2h. The error of this estimate shrinks as h^2,
    // and rounding adds about 1e-16 / h, so h = 1e-6 suits f64.
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for i in 0..weight.len() {
        let mut plus = weight.clone();
        plus.data_mut()[i] += h;
        let mut minus = weight.clone();
        minus.data_mut()[i] -= h;
        let numeric = (loss(&plus, &bias) - loss(&minus, &bias)) / (2.0 * h);

        let exact = analytic.data()[i];
        let error = (numeric - exact).abs() / exact.abs().max(1e-8);
        worst = worst.max(error);
        println!(
            "dL/dW[{i}]: backward {exact:+.8}, central difference {numeric:+.8}"
        );
    }
    println!("largest relative error below 1e-7: {}", worst < 1e-7);
    // ANCHOR_END: numeric
    assert!(
        worst < 1e-7,
        "gradient check failed: relative error {worst:e}"
    );

    // ANCHOR: step
    // A finite difference of the spike cannot check its surrogate. Away
    // from the threshold the step is flat, so the difference is 0, while
    // backward returns the ATan surrogate's value there.
    let membrane = 0.8;
    let spike_at = |u: f64| {
        let tape = Tape::new();
        let u = tape.constant(Tensor::scalar(u));
        u.spike(tape.constant(Tensor::scalar(1.0)), ATan::default())
            .item()
    };
    let numeric = (spike_at(membrane + h) - spike_at(membrane - h)) / (2.0 * h);
    let tape = Tape::new();
    let u = tape.leaf(Tensor::scalar(membrane));
    let surrogate = u
        .spike(tape.constant(Tensor::scalar(1.0)), ATan::default())
        .backward();
    println!(
        "at U = {membrane}: central difference {numeric}, surrogate {:.4}",
        surrogate.get(u).unwrap().item()
    );
    // ANCHOR_END: step
}

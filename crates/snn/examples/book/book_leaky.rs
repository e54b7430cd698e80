//! The Leaky neuron as a recurrent cell: the membrane of one step is the
//! state passed to the next. Run with `cargo run -p snn --example book_leaky`.

use autodiff::{Tape, Tensor};
use snn::Leaky;

// ANCHOR: run
/// Runs one neuron, beta = 0.8, threshold 1.0, on a constant input current
/// of 0.3 for 12 steps.
fn run_one_neuron() {
    let lif = Leaky::<f64>::new(0.8);
    let tape = Tape::new();
    let vars = lif.register(&tape);
    let current = tape.constant(Tensor::from_vec(vec![0.3], &[1, 1]));

    // The state starts at zero; each step takes it and returns the next one.
    let mut mem = Leaky::init_leaky(&tape, 1, 1);
    println!("  t     U[t]  S[t]");
    for t in 1..=12 {
        let (spk, next) = lif.step(&vars, current, mem);
        mem = next;
        println!("{t:>3} {:>8.4} {:>5}", mem.item(), spk.item());
    }
}
// ANCHOR_END: run

// ANCHOR: learn_beta
/// Returns dU[2]/dbeta of a neuron with learn_beta. Then beta is a leaf of
/// the tape and gets a gradient like a weight. Two steps without a spike
/// give U[2] = beta U[1] + I[2] = beta I[1] + I[2], so dU[2]/dbeta = I[1].
fn beta_gradient() -> f64 {
    let lif = Leaky::<f64>::new(0.8).with_learn_beta(true);
    let tape = Tape::new();
    let vars = lif.register(&tape);
    let first = tape.constant(Tensor::from_vec(vec![0.3], &[1, 1]));
    let second = tape.constant(Tensor::from_vec(vec![0.2], &[1, 1]));
    let (_, u1) = lif.step(&vars, first, Leaky::init_leaky(&tape, 1, 1));
    let (_, u2) = lif.step(&vars, second, u1);
    let grads = u2.sum().backward();
    let dbeta = grads.get(vars.beta).unwrap().item();
    println!("U[2] = {:.4}, dU[2]/dbeta = {dbeta:.4}", u2.item());
    dbeta
}
// ANCHOR_END: learn_beta

fn main() {
    run_one_neuron();
    assert!((beta_gradient() - 0.3).abs() < 1e-12);
}

//! Backpropagation through time on the tape: the same network unrolled
//! three ways gives the same gradient of the first layer's weight. Run with
//! `cargo run -p snn --example book_bptt`.

use autodiff::ops::Transpose;
use autodiff::ops::matmul::product;
use autodiff::{Tape, Tensor, Var};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::loss::membrane_cross_entropy;
use snn::net::NetVars;
use snn::{Leaky, Linear, Net, NetConfig};

const STEPS: usize = 6;
const BATCH: usize = 3;

// ANCHOR: unroll
/// Runs the network for `STEPS` steps on the tape and returns the summed
/// cross-entropy loss. `current1(t)` supplies the hidden layer's input
/// current at step `t`. Everything else is the same at every step, and the
/// weights are the same leaves at all steps.
fn unroll<'t>(
    net: &Net<f64>,
    vars: &NetVars<'t, f64>,
    labels: &[usize],
    mut current1: impl FnMut(usize) -> Var<'t, f64>,
) -> Var<'t, f64> {
    let tape = vars.fc1.weight.tape();
    let mut mem1 = Leaky::init_leaky(tape, BATCH, net.fc1.outputs());
    let mut mem2 = Leaky::init_leaky(tape, BATCH, net.fc2.outputs());
    let mut mem2_record = Vec::new();

    for t in 0..STEPS {
        let (spk1, next1) = net.lif1.step(&vars.lif1, current1(t), mem1);
        mem1 = next1;
        let cur2 = Linear::forward(&vars.fc2, spk1);
        let (_spk2, next2) = net.lif2.step(&vars.lif2, cur2, mem2);
        mem2 = next2;
        mem2_record.push(mem2);
    }
    membrane_cross_entropy(&mem2_record, labels)
        .expect("labels are valid classes")
}
// ANCHOR_END: unroll

// ANCHOR: recompute
/// Returns dL/dW1 with fc1(x) computed again at every step, as the tutorial
/// writes it.
fn dw1_recomputed(
    net: &Net<f64>,
    images: &Tensor<f64>,
    labels: &[usize],
) -> Tensor<f64> {
    let tape = Tape::new();
    let vars = net.register(&tape);
    let x = tape.constant(images.clone());
    let loss = unroll(net, &vars, labels, |_| Linear::forward(&vars.fc1, x));
    let grads = loss.backward();
    println!(
        "fc1(x) at every step: loss {:.6}, {} nodes on the tape",
        loss.item(),
        tape.len()
    );
    grads.get(vars.fc1.weight).unwrap().clone()
}
// ANCHOR_END: recompute

// ANCHOR: hoist
/// Returns dL/dW1 with fc1(x) computed once and used at all steps: one
/// node, used 6 times.
fn dw1_hoisted(
    net: &Net<f64>,
    images: &Tensor<f64>,
    labels: &[usize],
) -> Tensor<f64> {
    let tape = Tape::new();
    let vars = net.register(&tape);
    let x = tape.constant(images.clone());
    let cur1 = Linear::forward(&vars.fc1, x);
    let loss = unroll(net, &vars, labels, |_| cur1);
    let grads = loss.backward();
    println!(
        "fc1(x) once:          loss {:.6}, {} nodes on the tape",
        loss.item(),
        tape.len()
    );
    grads.get(vars.fc1.weight).unwrap().clone()
}
// ANCHOR_END: hoist

// ANCHOR: by_steps
/// Returns dW1 = (sum over t of dcur1_t)^T x, with the gradient of each
/// step's current read on its own: a separate leaf per step contains the
/// same value fc1(x).
fn dw1_summed_over_steps(
    net: &Net<f64>,
    images: &Tensor<f64>,
    labels: &[usize],
) -> Tensor<f64> {
    let tape = Tape::new();
    let vars = net.register(&tape);
    let cur1_value = net.fc1.infer(images);
    let per_step: Vec<Var<'_, f64>> =
        (0..STEPS).map(|_| tape.leaf(cur1_value.clone())).collect();
    let loss = unroll(net, &vars, labels, |t| per_step[t]);
    let grads = loss.backward();

    let mut sum_dcur1 = Tensor::zeros(cur1_value.shape());
    for (t, leaf) in per_step.iter().enumerate() {
        let dcur1 = grads.get_or_zeros(*leaf);
        println!(
            "step {t}: sum of |dL/dcur1_t| = {:.6}",
            dcur1.data().iter().map(|g| g.abs()).sum::<f64>()
        );
        sum_dcur1.add_assign(&dcur1);
    }
    product("dW1", &sum_dcur1, Transpose::Yes, images, Transpose::No)
}
// ANCHOR_END: by_steps

fn largest_difference(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

// ANCHOR: compare
/// Computes dW1 the three ways and compares them. Returns the largest
/// |dW1| and the largest difference of each other way from the first.
fn compare_three_ways(
    net: &Net<f64>,
    images: &Tensor<f64>,
    labels: &[usize],
) -> (f64, f64, f64) {
    let recomputed = dw1_recomputed(net, images, labels);
    let hoisted = dw1_hoisted(net, images, labels);
    let summed = dw1_summed_over_steps(net, images, labels);

    let scale = recomputed
        .data()
        .iter()
        .fold(0.0, |m: f64, g| m.max(g.abs()));
    let hoisted = largest_difference(&recomputed, &hoisted);
    let summed = largest_difference(&recomputed, &summed);
    println!("largest |dW1| = {scale:.6}");
    println!("recomputed vs hoisted agree to 1e-12: {}", hoisted < 1e-12);
    println!(
        "recomputed vs (sum_t dcur1_t)^T x agree to 1e-12: {}",
        summed < 1e-12
    );
    (scale, hoisted, summed)
}
// ANCHOR_END: compare

fn main() {
    let config = NetConfig {
        num_inputs: 12,
        num_hidden: 16,
        num_outputs: 4,
        num_steps: STEPS,
        beta: 0.9,
    };
    let mut rng = StdRng::seed_from_u64(3);
    let net = Net::<f64>::new(&config, &mut rng);
    let pixels: Vec<f64> = (0..BATCH * 12)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let images = Tensor::from_vec(pixels, &[BATCH, 12]);
    let labels = [2, 0, 3];

    let (scale, hoisted, summed) = compare_three_ways(&net, &images, &labels);
    assert!(
        scale > 1e-3,
        "the example needs hidden spikes to have a gradient to compare"
    );
    assert!(hoisted < 1e-12, "hoisted dW1 differs by {hoisted:e}");
    assert!(summed < 1e-12, "summed dW1 differs by {summed:e}");
}

//! One training step spelled out (fresh tape, forward, loss, backward,
//! Adam), checked against the library's `train_step`, then a short training
//! run on a toy task. Run with `cargo run -p snn --example book_train_step`.

use autodiff::{Tape, Tensor};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::loss::{count_correct, membrane_cross_entropy, membrane_predictions};
use snn::{Adam, Net, NetConfig, eval_step, train_step};

// ANCHOR: step
/// One training step on one batch; returns the loss before the update.
fn training_step(
    net: &mut Net<f64>,
    adam: &mut Adam<f64>,
    images: &Tensor<f64>,
    labels: &[usize],
) -> f64 {
    // A fresh tape: the parameters become leaves, the images a constant.
    let tape = Tape::new();
    let vars = net.register(&tape);
    let x = tape.constant(images.clone());

    // Forward through all time steps, then the loss summed over the steps.
    let records = net.forward(&vars, x);
    let mem2: Vec<_> = records.iter().map(|r| r.mem2).collect();
    let loss = membrane_cross_entropy(&mem2, labels)
        .expect("labels are valid classes");

    // Backward returns a gradient store; read it in the parameters' order.
    let grads = loss.backward();
    let param_grads: Vec<Tensor<f64>> = net
        .parameter_vars(&vars)
        .into_iter()
        .map(|v| grads.get_or_zeros(v))
        .collect();

    // Adam updates the parameters, which live outside the tape.
    adam.step(net.parameters_mut(), &param_grads);
    loss.item()
}
// ANCHOR_END: step

/// Draws a batch of a toy task: 16 pixels, class 0 lights the first half,
/// class 1 the second.
fn toy_batch(rng: &mut StdRng, batch: usize) -> (Tensor<f64>, Vec<usize>) {
    let labels: Vec<usize> =
        (0..batch).map(|_| rng.random_range(0..2)).collect();
    let mut pixels = Vec::with_capacity(batch * 16);
    for &label in &labels {
        for i in 0..16 {
            let lit = (i < 8) == (label == 0);
            pixels.push(if lit {
                rng.random_range(0.3..0.8)
            } else {
                rng.random_range(0.0..0.6)
            });
        }
    }
    (Tensor::from_vec(pixels, &[batch, 16]), labels)
}

// ANCHOR: loop
/// Trains on 30 batches of the toy task, printing the loss and the
/// accuracy on 64 test samples every 5 iterations.
fn train_toy_task(net: &mut Net<f64>, adam: &mut Adam<f64>, rng: &mut StdRng) {
    let (test_images, test_labels) = toy_batch(rng, 64);
    for iteration in 1..=30 {
        let (images, labels) = toy_batch(rng, 8);
        let loss = training_step(net, adam, &images, &labels);
        if iteration == 1 || iteration % 5 == 0 {
            let test = eval_step(net, &test_images, &test_labels).unwrap();
            let correct = count_correct(
                &membrane_predictions(&test.membrane_sum),
                &test_labels,
            );
            let test_loss = test.loss;
            println!(
                "iteration {iteration:>2}: loss {loss:>6.3}, \
                 test loss {test_loss:>6.3}, test accuracy {correct}/64"
            );
        }
    }
}
// ANCHOR_END: loop

fn main() {
    let config = NetConfig {
        num_inputs: 16,
        num_hidden: 32,
        num_outputs: 2,
        num_steps: 10,
        beta: 0.9,
    };
    let mut rng = StdRng::seed_from_u64(0);
    let mut net = Net::<f64>::new(&config, &mut rng);
    let mut adam = Adam::new(5e-3);

    // The spelled-out step and the library's step agree.
    let (images, labels) = toy_batch(&mut rng, 8);
    let (mut library_net, mut library_adam) = (net.clone(), adam.clone());
    let ours = training_step(&mut net, &mut adam, &images, &labels);
    let library =
        train_step(&mut library_net, &mut library_adam, images, &labels)
            .unwrap()
            .loss;
    assert!(
        (ours - library).abs() <= 1e-9 * library,
        "loss {ours} vs train_step's {library}"
    );
    for ((name, a), (_, b)) in
        net.parameters().into_iter().zip(library_net.parameters())
    {
        let diff = a
            .data()
            .iter()
            .zip(b.data())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(diff <= 1e-9, "{name} differs from train_step's by {diff:e}");
    }
    println!("the spelled-out step matches train_step");

    train_toy_task(&mut net, &mut adam, &mut rng);
}

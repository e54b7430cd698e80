//! Tutorial 5's network: its parameters, one forward pass, and why the
//! second layer must take the hidden spikes. Run with
//! `cargo run --release -p snn --example book_network`.

use autodiff::Tensor;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::{Net, NetConfig};

// ANCHOR: miswired
/// The common transcription error: fc2 fed with fc1's current instead of the
/// hidden spikes. Returns the output membrane summed over the steps.
fn miswired_membrane_sum(net: &Net<f32>, x: &Tensor<f32>) -> Tensor<f32> {
    let (batch, _) = x.dims2("miswired");
    let cur1 = net.fc1.infer(x);
    let mut mem1 = Tensor::zeros(&[batch, net.fc1.outputs()]);
    let mut mem2 = Tensor::zeros(&[batch, net.fc2.outputs()]);
    let mut membrane_sum = Tensor::zeros(&[batch, net.fc2.outputs()]);
    for _ in 0..net.num_steps {
        let _spk1 = net.lif1.infer_step(&cur1, &mut mem1);
        let cur2 = net.fc2.infer(&cur1); // should be fc2(spk1)
        net.lif2.infer_step(&cur2, &mut mem2);
        membrane_sum.add_assign(&mem2);
    }
    membrane_sum
}
// ANCHOR_END: miswired

fn largest_difference(a: &Tensor<f32>, b: &Tensor<f32>) -> f32 {
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

// ANCHOR: parameters
/// Builds Tutorial 5's network with PyTorch's initialisation, drawn from
/// `rng`, and prints its configuration and the shape of every parameter.
fn tutorial_network(rng: &mut StdRng) -> Net<f32> {
    let config = NetConfig::default();
    println!("{config:#?}");
    let net = Net::<f32>::new(&config, rng);
    let mut total = 0;
    for (name, tensor) in net.parameters() {
        println!("{name:<11} {:?}", tensor.shape());
        total += tensor.len();
    }
    println!("{total} trained parameters");
    net
}
// ANCHOR_END: parameters

// ANCHOR: forward
/// Runs the network on two "images" of random pixels in [0, 1], fed at each
/// of the 25 steps. Prints the hidden spikes of every step and the output
/// spike counts, and returns the images.
fn run_two_images(net: &Net<f32>, rng: &mut StdRng) -> Tensor<f32> {
    let pixels: Vec<f32> =
        (0..2 * 784).map(|_| rng.random_range(0.0..1.0)).collect();
    let x = Tensor::from_vec(pixels, &[2, 784]);
    let mut hidden_spikes_per_step = Vec::new();
    let out = net.infer_with(&x, |spk1, _mem2| {
        hidden_spikes_per_step.push(spk1.sum() as u32)
    });
    println!("hidden spikes at steps 1 to 25, of 2 x 1000 neurons:");
    for row in hidden_spikes_per_step.chunks(13) {
        let counts: Vec<String> =
            row.iter().map(|c| format!("{c:>4}")).collect();
        println!("{}", counts.concat());
    }
    println!("output spike counts, shape {:?}:", out.spike_counts.shape());
    for image in out.spike_counts.data().chunks(10) {
        println!(
            "  {:?}",
            image.iter().map(|&c| c as u32).collect::<Vec<_>>()
        );
    }
    x
}
// ANCHOR_END: forward

// ANCHOR: bypass
/// Changes layer 1's beta. With the spikes wired to fc2 the output changes;
/// with fc2(cur1) it cannot, because layer 1's neurons are bypassed.
/// Returns the largest change of each wiring.
fn change_hidden_beta(net: &Net<f32>, x: &Tensor<f32>) -> (f32, f32) {
    let mut other = net.clone();
    other.lif1.beta = Tensor::scalar(0.5);
    let right = largest_difference(
        &net.infer(x).membrane_sum,
        &other.infer(x).membrane_sum,
    );
    let wrong = largest_difference(
        &miswired_membrane_sum(net, x),
        &miswired_membrane_sum(&other, x),
    );
    println!("largest change of the output when lif1's beta goes 0.95 -> 0.5:");
    println!("  fc2(spk1): {right:.4}");
    println!("  fc2(cur1): {wrong:.4}");
    (right, wrong)
}
// ANCHOR_END: bypass

fn main() {
    let mut rng = StdRng::seed_from_u64(0);
    let net = tutorial_network(&mut rng);
    let total: usize = net.parameters().iter().map(|(_, t)| t.len()).sum();
    assert_eq!(total, 784 * 1000 + 1000 + 1000 * 10 + 10);

    let x = run_two_images(&net, &mut rng);
    let (right, wrong) = change_hidden_beta(&net, &x);
    assert!(right > 0.0);
    assert_eq!(wrong, 0.0);
}

//! The fused network ops against the step-by-step network on the tape: the
//! same losses, membranes and gradients in f64, for every reset mechanism
//! and with learnable beta and threshold.

use autodiff::{Tape, Tensor};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::loss::{membrane_cross_entropy, stacked_cross_entropy};
use snn::{Leaky, Net, NetConfig, Reset};

/// Absolute plus relative tolerance for two f64 computations of the same
/// sums in a different order.
fn assert_close(what: &str, got: &Tensor<f64>, want: &Tensor<f64>) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    for (i, (g, w)) in got.data().iter().zip(want.data()).enumerate() {
        assert!((g - w).abs() <= 1e-12 + 1e-10 * w.abs(), "{what}[{i}]: fused {g} vs unrolled {w}");
    }
}

fn small_net(reset: Reset, learn: bool, per_neuron_beta: bool, seed: u64) -> Net<f64> {
    let config = NetConfig { num_inputs: 12, num_hidden: 16, num_outputs: 4, num_steps: 7, beta: 0.85 };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Net::<f64>::new(&config, &mut rng);
    // Larger weights than PyTorch's default, so that neurons spike and reset.
    for w in net.fc1.weight.data_mut() {
        *w *= 4.0;
    }
    for w in net.fc2.weight.data_mut() {
        *w *= 3.0;
    }
    let hidden_beta: Vec<f64> = (0..16).map(|_| rng.random_range(0.5..0.99)).collect();
    let mut lif1 = Leaky::new(0.85).with_reset(reset).with_threshold(0.7).with_learn_beta(learn).with_learn_threshold(learn);
    if per_neuron_beta {
        lif1 = lif1.with_beta_per_neuron(&hidden_beta);
    }
    net.lif1 = lif1;
    net.lif2 = Leaky::new(0.8).with_reset(reset).with_learn_beta(learn).with_learn_threshold(learn);
    net.check().expect("parameters fit the layers");
    net
}

fn compare(net: &Net<f64>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed + 100);
    let batch = 5;
    let x: Vec<f64> = (0..batch * 12).map(|_| rng.random_range(0.0..1.0)).collect();
    let x = Tensor::from_vec(x, &[batch, 12]);
    let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..4)).collect();

    let tape = Tape::new();
    let vars = net.register(&tape);
    let records = net.forward(&vars, tape.constant(x.clone()));
    let mem2: Vec<_> = records.iter().map(|r| r.mem2).collect();
    let unrolled_loss = membrane_cross_entropy(&mem2, &labels).unwrap();
    let unrolled_grads = unrolled_loss.backward();

    let fused_tape = Tape::new();
    let fused_vars = net.register(&fused_tape);
    let fused = net.forward_fused(&fused_vars, fused_tape.constant(x.clone()));
    let fused_loss = stacked_cross_entropy(fused.mem2, &labels, net.num_steps).unwrap();
    let fused_grads = fused_loss.backward();

    assert_close("loss", &fused_loss.value(), &unrolled_loss.value());
    let stacked_mem2: Vec<f64> = records.iter().flat_map(|r| r.mem2.value().data().to_vec()).collect();
    assert_close("mem2", &fused.mem2.value(), &Tensor::from_vec(stacked_mem2, &[net.num_steps * batch, 4]));
    let stacked_cur2: Vec<f64> = records.iter().flat_map(|r| r.cur2.value().data().to_vec()).collect();
    assert_close("cur2", &fused.cur2.value(), &Tensor::from_vec(stacked_cur2, &[net.num_steps * batch, 4]));
    let hidden_spikes: Vec<f64> = records.iter().flat_map(|r| r.spk1.value().data().to_vec()).collect();
    assert!(hidden_spikes.contains(&1.0), "the case must make hidden neurons spike");
    assert!(hidden_spikes.contains(&0.0), "the case must leave some hidden neurons silent");

    let names: Vec<String> = net.parameters().into_iter().map(|(name, _)| name).collect();
    let pairs = net.parameter_vars(&fused_vars).into_iter().zip(net.parameter_vars(&vars));
    for (name, (fused_var, unrolled_var)) in names.iter().zip(pairs) {
        assert_close(name, &fused_grads.get_or_zeros(fused_var), &unrolled_grads.get_or_zeros(unrolled_var));
    }

    let inference = net.infer(&x);
    for (t, record) in records.iter().enumerate() {
        assert_close("inferred mem2", &inference.mem2[t], &record.mem2.value());
    }
    let mut observed = 0;
    let stepped = net.infer_with(&x, |_, _| observed += 1);
    assert_eq!(observed, net.num_steps);
    assert_eq!(stepped.mem2, inference.mem2, "infer_with and infer differ");
    assert_eq!(stepped.spike_counts, inference.spike_counts);
}

#[test]
fn subtract_reset_matches() {
    for seed in 0..4 {
        compare(&small_net(Reset::Subtract, false, false, seed), seed);
    }
}

#[test]
fn zero_reset_matches() {
    for seed in 0..4 {
        compare(&small_net(Reset::Zero, false, false, seed), seed);
    }
}

#[test]
fn no_reset_matches() {
    compare(&small_net(Reset::None, false, false, 1), 1);
}

#[test]
fn learnable_beta_and_threshold_match() {
    for reset in [Reset::Subtract, Reset::Zero, Reset::None] {
        compare(&small_net(reset, true, false, 2), 2);
        compare(&small_net(reset, true, true, 3), 3);
    }
}

#[test]
fn per_step_input_of_repeated_image_matches_static() {
    let net = small_net(Reset::Subtract, true, true, 5);
    let mut rng = StdRng::seed_from_u64(7);
    let batch = 3;
    let x = Tensor::from_vec((0..batch * 12).map(|_| rng.random_range(0.0..1.0)).collect(), &[batch, 12]);
    let repeated: Vec<f64> = (0..net.num_steps).flat_map(|_| x.data().to_vec()).collect();
    let x_steps = Tensor::from_vec(repeated, &[net.num_steps * batch, 12]);
    let labels = [0, 3, 1];

    let tape = Tape::new();
    let vars = net.register(&tape);
    let fixed = stacked_cross_entropy(net.forward_fused(&vars, tape.constant(x.clone())).mem2, &labels, net.num_steps).unwrap();
    let steps_tape = Tape::new();
    let steps_vars = net.register(&steps_tape);
    let stepped = net.forward_fused_steps(&steps_vars, steps_tape.constant(x_steps.clone()));
    let stepped_loss = stacked_cross_entropy(stepped.mem2, &labels, net.num_steps).unwrap();

    assert_close("loss", &stepped_loss.value(), &fixed.value());
    let (fixed_grads, stepped_grads) = (fixed.backward(), stepped_loss.backward());
    let pairs = net.parameter_vars(&steps_vars).into_iter().zip(net.parameter_vars(&vars));
    for (stepped_var, fixed_var) in pairs {
        assert_close("gradient", &stepped_grads.get_or_zeros(stepped_var), &fixed_grads.get_or_zeros(fixed_var));
    }

    let (a, b) = (net.infer_steps(&x_steps), net.infer(&x));
    assert_close("spike counts", &a.spike_counts, &b.spike_counts);
    assert_close("membrane sum", &a.membrane_sum, &b.membrane_sum);
}

#[test]
fn split_batch_step_matches_whole_batch() {
    for parts in [2, 3] {
        let net = small_net(Reset::Subtract, true, true, 9);
        let mut rng = StdRng::seed_from_u64(11);
        let batch = 7;
        let x = Tensor::from_vec((0..batch * 12).map(|_| rng.random_range(0.0..1.0)).collect(), &[batch, 12]);
        let labels: Vec<usize> = (0..batch).map(|i| i % 4).collect();

        let (mut whole, mut split) = (net.clone(), net.clone());
        let (mut adam_whole, mut adam_split) = (snn::Adam::new(5e-4), snn::Adam::new(5e-4));
        let a = snn::train_step(&mut whole, &mut adam_whole, x.clone(), &labels).unwrap();
        let b = snn::train_step_split(&mut split, &mut adam_split, x.clone(), &labels, parts).unwrap();

        assert!((a.loss - b.loss).abs() < 1e-12, "loss {} vs {}", a.loss, b.loss);
        assert_eq!(a.spike_counts, b.spike_counts);
        assert_close("membrane sum", &b.membrane_sum, &a.membrane_sum);
        for ((name, p), (_, q)) in whole.parameters().into_iter().zip(split.parameters()) {
            // Adam's first step is lr * sign(g) where g is not tiny, so compare the updates.
            let before = net.parameters().into_iter().find(|(n, _)| *n == name).unwrap().1.clone();
            let update_whole = p.zip_map(&before, "update", |after, before| after - before);
            let update_split = q.zip_map(&before, "update", |after, before| after - before);
            assert_close(&name, &update_split, &update_whole);
        }
    }
}

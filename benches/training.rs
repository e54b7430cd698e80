//! Benches of the tutorial network's hot spots at its real sizes: batch
//! 128, 784 inputs, 1000 hidden neurons, 10 outputs, 25 steps.
//!
//! `cargo bench --bench training`; `cargo bench --bench training -- sgemm`
//! runs one group.

use std::hint::black_box;

use autodiff::ops::matmul::{Linear, Transpose, gemm};
use autodiff::{Function, Tape, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::fused::{Current, Emit, LeakyLinear, LeakyRecurrence, LeakyState};
use snn::{Adam, Leaky, Net, NetConfig, SpikeGrad, eval_step, train_step, train_step_unrolled};

// The program trains with mimalloc; the benches measure the same setup.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 128;
const INPUTS: usize = 784;
const HIDDEN: usize = 1000;
const OUTPUTS: usize = 10;
const STEPS: usize = 25;

fn uniform(shape: &[usize], low: f32, high: f32, rng: &mut StdRng) -> Tensor<f32> {
    let n = shape.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.random_range(low..high)).collect(), shape)
}

/// Spikes with about the density seen in training (20% of entries).
fn spikes(rows: usize, rng: &mut StdRng) -> Tensor<f32> {
    let n = rows * HIDDEN;
    Tensor::from_vec((0..n).map(|_| if rng.random_range(0.0..1.0) < 0.2 { 1.0 } else { 0.0 }).collect(), &[rows, HIDDEN])
}

fn sgemm(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let x = uniform(&[BATCH, INPUTS], 0.0, 1.0, &mut rng);
    let w1 = uniform(&[HIDDEN, INPUTS], -0.04, 0.04, &mut rng);
    let g1 = uniform(&[BATCH, HIDDEN], -0.01, 0.01, &mut rng);
    let flops = 2 * BATCH * INPUTS * HIDDEN;

    let mut group = c.benchmark_group("sgemm");
    group.throughput(Throughput::Elements(flops as u64));
    group.bench_function("fc1 forward x W1^T [128x784]x[784x1000]", |b| {
        let mut y = Tensor::zeros(&[BATCH, HIDDEN]);
        b.iter(|| gemm("bench", &x, Transpose::No, &w1, Transpose::Yes, 0.0, black_box(&mut y)));
    });
    group.bench_function("fc1 weight gradient G^T x [1000x128]x[128x784]", |b| {
        let mut dw = Tensor::zeros(&[HIDDEN, INPUTS]);
        b.iter(|| gemm("bench", &g1, Transpose::Yes, &x, Transpose::No, 0.0, black_box(&mut dw)));
    });
    group.bench_function("fc1 input gradient G W1 [128x1000]x[1000x784] (skipped in training)", |b| {
        let mut dx = Tensor::zeros(&[BATCH, INPUTS]);
        b.iter(|| gemm("bench", &g1, Transpose::No, &w1, Transpose::No, 0.0, black_box(&mut dx)));
    });

    // Training splits each batch over two threads, so these are the
    // shapes that run there.
    let half = BATCH / 2;
    let x_half = Tensor::from_vec(x.data()[..half * INPUTS].to_vec(), &[half, INPUTS]);
    let g_half = Tensor::from_vec(g1.data()[..half * HIDDEN].to_vec(), &[half, HIDDEN]);
    group.throughput(Throughput::Elements((2 * half * INPUTS * HIDDEN) as u64));
    group.bench_function("fc1 forward, half batch [64x784]x[784x1000]", |b| {
        let mut y = Tensor::zeros(&[half, HIDDEN]);
        b.iter(|| gemm("bench", &x_half, Transpose::No, &w1, Transpose::Yes, 0.0, black_box(&mut y)));
    });
    group.bench_function("fc1 weight gradient, half batch [1000x64]x[64x784]", |b| {
        let mut dw = Tensor::zeros(&[HIDDEN, INPUTS]);
        b.iter(|| gemm("bench", &g_half, Transpose::Yes, &x_half, Transpose::No, 0.0, black_box(&mut dw)));
    });

    let rows = STEPS * BATCH;
    let s = spikes(rows, &mut rng);
    let w2 = uniform(&[OUTPUTS, HIDDEN], -0.03, 0.03, &mut rng);
    let b2 = uniform(&[OUTPUTS], -0.03, 0.03, &mut rng);
    let g2 = uniform(&[rows, OUTPUTS], -0.01, 0.01, &mut rng);
    group.throughput(Throughput::Elements((2 * rows * HIDDEN * OUTPUTS) as u64));
    group.bench_function("fc2 forward, 25 steps stacked [3200x1000]x[1000x10]", |b| {
        b.iter(|| black_box(Linear::compute(&s, &w2, &b2)));
    });
    group.bench_function("fc2 forward with matrixmultiply [3200x1000]x[1000x10]", |b| {
        let mut y = Tensor::zeros(&[rows, OUTPUTS]);
        b.iter(|| gemm("bench", &s, Transpose::No, &w2, Transpose::Yes, 0.0, black_box(&mut y)));
    });
    group.bench_function("fc2 backward, both gradients", |b| {
        let out = Linear::compute(&s, &w2, &b2);
        let mut op = Linear;
        let _ = <Linear as Function<f32>>::forward(&mut op, &[&s, &w2, &b2]);
        b.iter(|| black_box(op.backward(&[&s, &w2, &b2], &out, &g2, &[true, true, true])));
    });
    group.finish();
}

fn leaky(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let current = uniform(&[BATCH, HIDDEN], -0.2, 0.3, &mut rng);
    let beta = Tensor::scalar(0.95_f32);
    let threshold = Tensor::scalar(1.0_f32);
    let grad = uniform(&[STEPS * BATCH, HIDDEN], -0.01, 0.01, &mut rng);

    let mut group = c.benchmark_group("leaky");
    group.throughput(Throughput::Elements((STEPS * BATCH * HIDDEN) as u64));
    group.bench_function("hidden layer, 25 steps forward", |b| {
        b.iter(|| {
            let mut op = LeakyRecurrence::new(snn::Reset::Subtract, SpikeGrad::atan(), STEPS, Current::Static, Emit::Spikes);
            black_box(op.forward(&[&current, &beta, &threshold]))
        });
    });
    group.bench_function("hidden layer, 25 steps backward", |b| {
        let mut op = LeakyRecurrence::new(snn::Reset::Subtract, SpikeGrad::atan(), STEPS, Current::Static, Emit::Spikes);
        let out = op.forward(&[&current, &beta, &threshold]);
        b.iter(|| black_box(op.backward(&[&current, &beta, &threshold], &out, &grad, &[true, false, false])));
    });
    let w2 = uniform(&[OUTPUTS, HIDDEN], -0.03, 0.03, &mut rng);
    let b2 = uniform(&[OUTPUTS], -0.03, 0.03, &mut rng);
    let grad2 = uniform(&[STEPS * BATCH, OUTPUTS], -0.01, 0.01, &mut rng);
    let fused_inputs = [&current, &beta, &threshold, &w2, &b2];
    let fused = || LeakyLinear::new(snn::Reset::Subtract, SpikeGrad::atan(), STEPS, Current::Static);
    group.bench_function("hidden layer and fc2 fused (LeakyLinear), 25 steps forward", |b| {
        b.iter(|| black_box(fused().forward(&fused_inputs)));
    });
    group.bench_function("hidden layer and fc2 fused (LeakyLinear), 25 steps backward", |b| {
        let mut op = fused();
        let out = op.forward(&fused_inputs);
        b.iter(|| black_box(op.backward(&fused_inputs, &out, &grad2, &[true, false, false, true, true])));
    });
    group.throughput(Throughput::Elements((BATCH * HIDDEN) as u64));
    group.bench_function("one Leaky step on the tape, forward and backward", |b| {
        let lif = Leaky::<f32>::new(0.95);
        let membrane = uniform(&[BATCH, HIDDEN], -0.5, 1.5, &mut rng);
        b.iter(|| {
            let tape = Tape::new();
            let vars = lif.register(&tape);
            let (spikes, next) = lif.step(&vars, tape.leaf(current.clone()), tape.leaf(membrane.clone()));
            black_box(spikes.add(next).sum().backward())
        });
    });
    group.bench_function("hidden layer, one step in place (inference)", |b| {
        let mut state = LeakyState::new(&Leaky::new(0.95), BATCH, HIDDEN);
        b.iter(|| state.step(black_box(current.data())));
    });
    group.finish();
}

fn network(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let images = uniform(&[BATCH, INPUTS], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..BATCH).map(|i| i % OUTPUTS).collect();
    let net = Net::<f32>::new(&NetConfig::default(), &mut rng);

    let mut group = c.benchmark_group("network");
    group.sample_size(20);
    group.bench_function("training step, fused (forward, backward, Adam)", |b| {
        let (mut net, mut adam) = (net.clone(), Adam::new(5e-4));
        b.iter(|| train_step(&mut net, &mut adam, images.clone(), &labels).unwrap());
    });
    group.bench_function("training step, unrolled on the tape", |b| {
        let (mut net, mut adam) = (net.clone(), Adam::new(5e-4));
        b.iter(|| train_step_unrolled(&mut net, &mut adam, images.clone(), &labels).unwrap());
    });
    group.bench_function("inference of one batch of 128", |b| {
        b.iter(|| black_box(eval_step(&net, &images, &labels).unwrap()));
    });
    group.bench_function("tape forward only, fused", |b| {
        b.iter(|| {
            let tape = Tape::new();
            let vars = net.register(&tape);
            black_box(net.forward_fused(&vars, tape.constant(images.clone())).mem2.value())
        });
    });
    group.finish();
}

criterion_group!(benches, sgemm, leaky, network);
criterion_main!(benches);

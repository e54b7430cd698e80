//! Finite-difference checks of every differentiable op, the Leaky update,
//! the fused Leaky recurrence and a whole small network, in f64.
//!
//! Each property test draws random shapes and values, forms the scalar
//! `L = sum(w * f(inputs))` with random weights `w` (so every output element
//! reaches the gradient), and compares the engine's `dL/dinput` with the
//! central difference `(L(x + h) - L(x - h)) / 2h` for every input element.
//!
//! Tolerance, for every element: `|engine - numeric| <= 1e-6 * max(1,
//! |engine|, |numeric|)`, with `h = 1e-6`. The central difference has a
//! truncation error of about `h^2 |f'''| / 6`, near 1e-12 here, and a
//! rounding error of about `eps |L| / h = 2.2e-10 |L|`, which stays below
//! the tolerance while `|L|` is under a few thousand. The value ranges below
//! keep `|L|` far smaller, and a wrong backward rule is off by far more.
//!
//! Proptest case counts are set per block (`CASES`, `NET_CASES`) so that the
//! whole file runs in a few seconds on two cores with the test profile's
//! opt-level 2.

use autodiff::ops::matmul::product;
use autodiff::ops::{Transpose, gemm};
use autodiff::{Function, Surrogate, Tape, Tensor, Var};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use snn::fused::{Current, Emit, LeakyRecurrence, spikes_of};
use snn::leaky::LeakyVars;
use snn::linear::LinearVars;
use snn::loss::{membrane_cross_entropy, stacked_cross_entropy};
use snn::net::NetVars;
use snn::{Leaky, Linear, Net, Reset, SpikeGrad};

/// Step of the central differences.
const H: f64 = 1e-6;
/// Relative tolerance of the gradient comparison, see the file's docs.
const RTOL: f64 = 1e-6;
/// Cases per property test of a single op.
const CASES: u32 = 512;
/// Cases per property test of a whole network.
const NET_CASES: u32 = 256;

// ---------------------------------------------------------------------------
// The checker

/// Returns whether `engine` and `numeric` agree:
/// `|a - b| <= RTOL * max(1, |a|, |b|)`.
fn gradients_agree(engine: f64, numeric: f64) -> bool {
    let scale = 1.0_f64.max(engine.abs()).max(numeric.abs());
    (engine - numeric).abs() <= RTOL * scale
}

/// Draws the weights of the linear functional `L = sum(w * output)`,
/// uniform in `[-1, 1)`.
fn random_weights(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let count = shape.iter().product();
    Tensor::from_vec(
        (0..count).map(|_| rng.random_range(-1.0..1.0)).collect(),
        shape,
    )
}

/// Runs `forward` on constants and returns `L = sum(w * output)` and the
/// values of the discrete switches (spikes) it reports.
fn evaluate<G>(inputs: &[Tensor<f64>], weight_seed: u64, forward: &G) -> (f64, Vec<f64>)
where
    G: for<'t> Fn(&[Var<'t, f64>]) -> (Var<'t, f64>, Vec<Var<'t, f64>>),
{
    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|t| tape.constant(t.clone())).collect();
    let (output, switches) = forward(&vars);
    let weights = tape.constant(random_weights(&output.shape(), weight_seed));
    let loss = output.mul(weights).sum().item();
    let pattern = switches
        .iter()
        .flat_map(|s| s.value().data().to_vec())
        .collect();
    (loss, pattern)
}

/// Compares the engine's gradient of `L = sum(w * output)` with central
/// differences for every element of every input.
///
/// `forward` also returns the switches of a piecewise-smooth function (the
/// spikes of a network). An element whose perturbation by `+-h` changes any
/// switch sits on a discontinuity, where finite differences mean nothing; it
/// is skipped. Returns `(checked, skipped)` element counts.
fn check_where_smooth<G>(
    inputs: &[Tensor<f64>],
    weight_seed: u64,
    forward: G,
) -> Result<(usize, usize), TestCaseError>
where
    G: for<'t> Fn(&[Var<'t, f64>]) -> (Var<'t, f64>, Vec<Var<'t, f64>>),
{
    let tape = Tape::new();
    let leaves: Vec<_> = inputs.iter().map(|t| tape.leaf(t.clone())).collect();
    let (output, _) = forward(&leaves);
    let weights = tape.constant(random_weights(&output.shape(), weight_seed));
    let grads = output.mul(weights).sum().backward();
    let (_, base_pattern) = evaluate(inputs, weight_seed, &forward);

    let (mut checked, mut skipped) = (0, 0);
    for (i, leaf) in leaves.iter().enumerate() {
        let engine = grads.get_or_zeros(*leaf);
        for k in 0..inputs[i].len() {
            let mut plus = inputs.to_vec();
            plus[i].data_mut()[k] += H;
            let mut minus = inputs.to_vec();
            minus[i].data_mut()[k] -= H;
            let (loss_plus, pattern_plus) = evaluate(&plus, weight_seed, &forward);
            let (loss_minus, pattern_minus) = evaluate(&minus, weight_seed, &forward);
            if pattern_plus != base_pattern || pattern_minus != base_pattern {
                skipped += 1;
                continue;
            }

            let numeric = (loss_plus - loss_minus) / (2.0 * H);
            let analytic = engine.data()[k];
            prop_assert!(
                gradients_agree(analytic, numeric),
                "input {i} element {k} (shape {:?}): engine {analytic:e}, finite difference {numeric:e}",
                inputs[i].shape()
            );
            checked += 1;
        }
    }
    Ok((checked, skipped))
}

/// Rejects a case in which most elements were skipped. A membrane within
/// about `H` of its threshold does that, because any perturbation then
/// flips a spike. Such a case is set aside rather than failed, so that it
/// cannot fail a run by chance. If every case skipped most elements,
/// proptest would still fail on too many rejected cases.
fn mostly_checked(checked: usize, skipped: usize) -> Result<(), TestCaseError> {
    if checked > skipped {
        Ok(())
    } else {
        Err(TestCaseError::reject(format!("checked {checked}, skipped {skipped}: most elements sit at a spike threshold")))
    }
}

/// [`check_where_smooth`] for a smooth function: no element may be skipped.
fn check_gradients<G>(
    inputs: &[Tensor<f64>],
    weight_seed: u64,
    forward: G,
) -> Result<(), TestCaseError>
where
    G: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let (_, skipped) = check_where_smooth(inputs, weight_seed, move |v| (forward(v), Vec::new()))?;
    prop_assert_eq!(skipped, 0);
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies

/// Generates a tensor of `shape` with values uniform in `[low, high)`.
fn tensor(shape: Vec<usize>, low: f64, high: f64) -> impl Strategy<Value = Tensor<f64>> {
    let count: usize = shape.iter().product();
    prop::collection::vec(low..high, count).prop_map(move |data| Tensor::from_vec(data, &shape))
}

/// Generates a matrix of 1 to 4 rows and 1 to 5 columns.
fn matrix(low: f64, high: f64) -> impl Strategy<Value = Tensor<f64>> {
    (1usize..5, 1usize..6).prop_flat_map(move |(rows, cols)| tensor(vec![rows, cols], low, high))
}

/// Generates two matrices of the same random shape.
fn matrix_pair(low: f64, high: f64) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    (1usize..5, 1usize..6).prop_flat_map(move |(rows, cols)| {
        (
            tensor(vec![rows, cols], low, high),
            tensor(vec![rows, cols], low, high),
        )
    })
}

/// Generates one value (shape `[]`) or one per neuron (shape `[neurons]`).
fn per_neuron(neurons: usize, low: f64, high: f64) -> impl Strategy<Value = Tensor<f64>> {
    prop_oneof![tensor(vec![], low, high), tensor(vec![neurons], low, high)]
}

/// Generates a layer width on either side of the linear op's switch
/// between its own loops (up to 16 outputs) and the matrix kernel.
fn layer_width() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..6, 17usize..21]
}

fn reset_mode() -> impl Strategy<Value = Reset> {
    prop_oneof![Just(Reset::Subtract), Just(Reset::Zero), Just(Reset::None)]
}

/// Generates the inputs of one Leaky update: `[current, previous membrane,
/// beta, threshold]`. Beta stays in `[0.05, 0.95]`, inside the clamp's range, and
/// every previous membrane is at least 0.01 from its threshold, so the
/// reset `H(U[t-1] - threshold)` does not change under a perturbation of
/// 1e-6.
fn leaky_inputs() -> impl Strategy<Value = Vec<Tensor<f64>>> {
    (1usize..5, 1usize..6).prop_flat_map(|(batch, neurons)| {
        let offsets = prop::collection::vec((0.01..2.0_f64, any::<bool>()), batch * neurons);
        (
            tensor(vec![batch, neurons], -2.0, 2.0),
            offsets,
            per_neuron(neurons, 0.05, 0.95),
            per_neuron(neurons, 0.5, 1.5),
        )
            .prop_map(move |(current, offsets, beta, threshold)| {
                let previous: Vec<f64> = offsets
                    .iter()
                    .enumerate()
                    .map(|(k, &(distance, above))| {
                        let theta =
                            threshold.data()[if threshold.len() == 1 { 0 } else { k % neurons }];
                        if above {
                            theta + distance
                        } else {
                            theta - distance
                        }
                    })
                    .collect();
                vec![
                    current,
                    Tensor::from_vec(previous, &[batch, neurons]),
                    beta,
                    threshold,
                ]
            })
    })
}

/// The parameters and data of a small Tutorial 5 network.
#[derive(Clone, Debug)]
struct SmallNet {
    /// `[W1, b1, W2, b2, beta1, beta2, threshold1, threshold2]`.
    parameters: Vec<Tensor<f64>>,
    x: Tensor<f64>,
    labels: Vec<usize>,
    num_steps: usize,
    reset: Reset,
}

fn small_net() -> impl Strategy<Value = SmallNet> {
    (
        1usize..6,
        layer_width(),
        2usize..5,
        1usize..6,
        1usize..4,
        reset_mode(),
    )
        .prop_flat_map(|(inputs, hidden, outputs, num_steps, batch, reset)| {
            let parameters = (
                tensor(vec![hidden, inputs], -1.5, 1.5),
                tensor(vec![hidden], -0.5, 0.5),
                tensor(vec![outputs, hidden], -1.5, 1.5),
                tensor(vec![outputs], -0.5, 0.5),
                per_neuron(hidden, 0.05, 0.95),
                per_neuron(outputs, 0.05, 0.95),
                per_neuron(hidden, 0.5, 1.5),
                per_neuron(outputs, 0.5, 1.5),
            );
            (
                parameters,
                tensor(vec![batch, inputs], 0.0, 1.0),
                prop::collection::vec(0..outputs, batch),
            )
                .prop_map(
                    move |((w1, b1, w2, b2, beta1, beta2, th1, th2), x, labels)| SmallNet {
                        parameters: vec![w1, b1, w2, b2, beta1, beta2, th1, th2],
                        x,
                        labels,
                        num_steps,
                        reset,
                    },
                )
        })
}

/// The two forward passes of [`Net`] on the tape.
#[derive(Clone, Copy, Debug)]
enum Forward {
    /// `Net::forward`: six nodes per time step.
    Unrolled,
    /// `Net::forward_fused`: one op per layer for all steps, as training
    /// runs.
    Fused,
}

fn forward_kind() -> impl Strategy<Value = Forward> {
    prop_oneof![Just(Forward::Unrolled), Just(Forward::Fused)]
}

/// Runs Tutorial 5's network on the tape with `p = [W1, b1, W2, b2, beta1,
/// beta2, threshold1, threshold2]` and returns the summed membrane
/// cross-entropy and every spike.
fn net_loss<'t>(
    case: &SmallNet,
    forward: Forward,
    spike_grad1: SpikeGrad,
    p: &[Var<'t, f64>],
) -> (Var<'t, f64>, Vec<Var<'t, f64>>) {
    let tape = p[0].tape();
    let leaky = |spike_grad| {
        Leaky::<f64>::new(0.5)
            .with_reset(case.reset)
            .with_spike_grad(spike_grad)
    };
    let net = Net {
        fc1: Linear::from_parameters(case.parameters[0].clone(), case.parameters[1].clone()),
        lif1: leaky(spike_grad1),
        fc2: Linear::from_parameters(case.parameters[2].clone(), case.parameters[3].clone()),
        lif2: leaky(SpikeGrad::default()),
        num_steps: case.num_steps,
    };
    let vars = NetVars {
        fc1: LinearVars {
            weight: p[0],
            bias: p[1],
        },
        lif1: LeakyVars {
            beta: p[4],
            threshold: p[6],
        },
        fc2: LinearVars {
            weight: p[2],
            bias: p[3],
        },
        lif2: LeakyVars {
            beta: p[5],
            threshold: p[7],
        },
    };
    let x = tape.constant(case.x.clone());

    match forward {
        Forward::Unrolled => {
            let records = net.forward(&vars, x);
            let mem2: Vec<_> = records.iter().map(|r| r.mem2).collect();
            let loss =
                membrane_cross_entropy(&mem2, &case.labels).expect("labels are drawn in range");
            let spikes = records.iter().flat_map(|r| [r.spk1, r.spk2]).collect();
            (loss, spikes)
        }
        Forward::Fused => {
            let record = net.forward_fused(&vars, x);
            let loss = stacked_cross_entropy(record.mem2, &case.labels, case.num_steps)
                .expect("labels are drawn in range");
            // The fused hidden layer does not return its spikes, so the same
            // recurrence on the same current computes them for the switches.
            let cur1 = net.fc1.infer(&x.value());
            let mut layer1 = LeakyRecurrence::new(case.reset, spike_grad1, case.num_steps, Current::Static, Emit::Spikes);
            let spk1 = tape.constant(layer1.forward(&[&cur1, &p[4].value(), &p[6].value()]));
            let spk2 = tape.constant(spikes_of(&record.mem2.value(), &p[7].value()));
            (loss, vec![spk1, spk2])
        }
    }
}

// ---------------------------------------------------------------------------
// Single ops

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn matmul_gradients((a, b) in (1usize..5, 1usize..5, 1usize..5).prop_flat_map(|(m, k, n)| {
        (tensor(vec![m, k], -2.0, 2.0), tensor(vec![k, n], -2.0, 2.0))
    }), seed in any::<u64>()) {
        check_gradients(&[a, b], seed, |v| v[0].matmul(v[1]))?;
    }

    /// Outputs up to 16 and wider layers run different kernels; both are
    /// drawn.
    #[test]
    fn linear_gradients((x, w, b) in (1usize..5, 1usize..5, layer_width()).prop_flat_map(|(batch, inputs, outputs)| {
        (tensor(vec![batch, inputs], -2.0, 2.0), tensor(vec![outputs, inputs], -2.0, 2.0), tensor(vec![outputs], -2.0, 2.0))
    }), seed in any::<u64>()) {
        check_gradients(&[x, w, b], seed, |v| v[0].linear(v[1], v[2]))?;
    }

    #[test]
    fn add_gradients((a, b) in matrix_pair(-2.0, 2.0), seed in any::<u64>()) {
        check_gradients(&[a, b], seed, |v| v[0].add(v[1]))?;
    }

    #[test]
    fn sub_gradients((a, b) in matrix_pair(-2.0, 2.0), seed in any::<u64>()) {
        check_gradients(&[a, b], seed, |v| v[0].sub(v[1]))?;
    }

    #[test]
    fn mul_gradients((a, b) in matrix_pair(-2.0, 2.0), seed in any::<u64>()) {
        check_gradients(&[a, b], seed, |v| v[0].mul(v[1]))?;
    }

    #[test]
    fn scale_gradients(a in matrix(-2.0, 2.0), factor in -3.0..3.0_f64, seed in any::<u64>()) {
        check_gradients(&[a], seed, move |v| v[0].scale(factor))?;
    }

    #[test]
    fn sum_gradients(a in matrix(-2.0, 2.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].sum())?;
    }

    #[test]
    fn mean_gradients(a in matrix(-2.0, 2.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].mean())?;
    }

    #[test]
    fn exp_gradients(a in matrix(-3.0, 3.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].exp())?;
    }

    /// Log on positive inputs only, away from its pole at 0.
    #[test]
    fn log_gradients(a in matrix(0.1, 5.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].log())?;
    }

    #[test]
    fn softmax_gradients(a in matrix(-5.0, 5.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].softmax())?;
    }

    #[test]
    fn log_softmax_gradients(a in matrix(-5.0, 5.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].log_softmax())?;
    }

    #[test]
    fn cross_entropy_gradients((logits, labels) in (1usize..5, 1usize..6).prop_flat_map(|(batch, classes)| {
        (tensor(vec![batch, classes], -5.0, 5.0), prop::collection::vec(0..classes, batch))
    }), seed in any::<u64>()) {
        check_gradients(&[logits], seed, move |v| v[0].cross_entropy(&labels).unwrap())?;
    }

    /// One value feeds four paths: `x * x + exp(x) * x - x`, so its gradient
    /// is the sum of all four contributions.
    #[test]
    fn value_on_several_paths(a in matrix(-2.0, 2.0), seed in any::<u64>()) {
        check_gradients(&[a], seed, |v| v[0].mul(v[0]).add(v[0].exp().mul(v[0])).sub(v[0]))?;
    }

    /// Two leaves with equal values keep separate gradients:
    /// `L = sum(w (a * a + 3 b))`, so `dL/da = 2 a w` and `dL/db = 3 w`.
    #[test]
    fn equal_leaves_stay_separate(a in matrix(-2.0, 2.0), seed in any::<u64>()) {
        let b = a.clone();
        check_gradients(&[a.clone(), b], seed, |v| v[0].mul(v[0]).add(v[1].scale(3.0)))?;

        let tape = Tape::new();
        let (va, vb) = (tape.leaf(a.clone()), tape.leaf(a.clone()));
        let weights = random_weights(a.shape(), seed);
        let grads = va.mul(va).add(vb.scale(3.0)).mul(tape.constant(weights.clone())).sum().backward();
        let want_a: Vec<f64> = a.data().iter().zip(weights.data()).map(|(x, w)| 2.0 * x * w).collect();
        let want_b: Vec<f64> = weights.data().iter().map(|w| 3.0 * w).collect();
        prop_assert_eq!(grads.get(va).unwrap().data(), &want_a[..]);
        prop_assert_eq!(grads.get(vb).unwrap().data(), &want_b[..]);
    }

    /// The bias is broadcast over the batch, so its gradient is the sum over
    /// the batch: with `L = sum(w * (x W^T + b))`, `dL/db[o] = sum_b w[b, o]`.
    #[test]
    fn linear_bias_gradient_sums_over_batch((x, w, b) in (1usize..6, 1usize..5, 1usize..5).prop_flat_map(|(batch, inputs, outputs)| {
        (tensor(vec![batch, inputs], -2.0, 2.0), tensor(vec![outputs, inputs], -2.0, 2.0), tensor(vec![outputs], -2.0, 2.0))
    }), seed in any::<u64>()) {
        let tape = Tape::new();
        let bias = tape.leaf(b);
        let y = tape.constant(x).linear(tape.leaf(w), bias);
        let weights = random_weights(&y.shape(), seed);
        let grads = y.mul(tape.constant(weights.clone())).sum().backward();

        let (_, outputs) = weights.dims2("test");
        let mut want = vec![0.0; outputs];
        for row in weights.data().chunks_exact(outputs) {
            for (s, w) in want.iter_mut().zip(row) {
                *s += w;
            }
        }
        let got = grads.get(bias).unwrap().data().to_vec();
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-12, "bias gradient {got:?}, column sums {want:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Matrix kernel

/// `op(A) op(B)` by the textbook triple loop.
fn naive_product(a: &Tensor<f64>, ta: Transpose, b: &Tensor<f64>, tb: Transpose) -> Tensor<f64> {
    let (a_rows, a_cols) = a.dims2("naive");
    let (b_rows, b_cols) = b.dims2("naive");
    let at = |i: usize, p: usize| {
        if ta == Transpose::No {
            a.data()[i * a_cols + p]
        } else {
            a.data()[p * a_cols + i]
        }
    };
    let bt = |p: usize, j: usize| {
        if tb == Transpose::No {
            b.data()[p * b_cols + j]
        } else {
            b.data()[j * b_cols + p]
        }
    };
    let (m, k) = if ta == Transpose::No {
        (a_rows, a_cols)
    } else {
        (a_cols, a_rows)
    };
    let n = if tb == Transpose::No { b_cols } else { b_rows };
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
        }
    }
    Tensor::from_vec(c, &[m, n])
}

/// Stored shape of an `rows x cols` operand that is used as `transpose`.
fn stored_shape(rows: usize, cols: usize, transpose: Transpose) -> Vec<usize> {
    if transpose == Transpose::No {
        vec![rows, cols]
    } else {
        vec![cols, rows]
    }
}

fn transposes() -> impl Strategy<Value = (Transpose, Transpose)> {
    let t = || prop_oneof![Just(Transpose::No), Just(Transpose::Yes)];
    (t(), t())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// `product` under every combination of transposes equals the triple
    /// loop, within summation-order rounding.
    #[test]
    fn product_matches_triple_loop(((ta, tb), a, b) in (transposes(), 1usize..8, 1usize..8, 1usize..8)
        .prop_flat_map(|((ta, tb), m, k, n)| {
            (Just((ta, tb)), tensor(stored_shape(m, k, ta), -2.0, 2.0), tensor(stored_shape(k, n, tb), -2.0, 2.0))
        }))
    {
        let got = product("test", &a, ta, &b, tb);
        let want = naive_product(&a, ta, &b, tb);
        prop_assert_eq!(got.shape(), want.shape());
        for (g, w) in got.data().iter().zip(want.data()) {
            prop_assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{ta:?} {tb:?}: {g} vs {w}");
        }
    }

    /// `gemm` adds `op(A) op(B)` to `beta * C` under every combination of
    /// transposes.
    #[test]
    fn gemm_accumulates_into_output(((ta, tb), a, b, c) in (transposes(), 1usize..8, 1usize..8, 1usize..8)
        .prop_flat_map(|((ta, tb), m, k, n)| {
            (
                Just((ta, tb)),
                tensor(stored_shape(m, k, ta), -2.0, 2.0),
                tensor(stored_shape(k, n, tb), -2.0, 2.0),
                tensor(vec![m, n], -2.0, 2.0),
            )
        }), beta in -2.0..2.0_f64)
    {
        let mut got = c.clone();
        gemm("test", &a, ta, &b, tb, beta, &mut got);
        let product = naive_product(&a, ta, &b, tb);
        for ((g, p), c) in got.data().iter().zip(product.data()).zip(c.data()) {
            let want = p + beta * c;
            prop_assert!((g - want).abs() <= 1e-12 * (1.0 + want.abs()), "{ta:?} {tb:?}: {g} vs {want}");
        }
    }
}

// ---------------------------------------------------------------------------
// Softmax family at huge logits

/// `log(sum(exp(row)))` of a row of moderate values, by the definition.
fn naive_log_sum_exp(row: &[f64]) -> f64 {
    row.iter().map(|v| v.exp()).sum::<f64>().ln()
}

/// `z` with `shift` added to every element of row `r` for `r` in `rows`.
fn shift_rows(z: &Tensor<f64>, shifts: &[f64]) -> Tensor<f64> {
    let (_, cols) = z.dims2("test");
    let mut out = z.clone();
    for (row, shift) in out.data_mut().chunks_exact_mut(cols).zip(shifts) {
        for v in row {
            *v += shift;
        }
    }
    out
}

/// Returns the value and the gradient of `L = sum(w * f(logits))`.
fn value_and_gradient(
    logits: &Tensor<f64>,
    seed: u64,
    f: impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    let tape = Tape::new();
    let x = tape.leaf(logits.clone());
    let y = f(x);
    let value = (*y.value()).clone();
    let grads = y
        .mul(tape.constant(random_weights(value.shape(), seed)))
        .sum()
        .backward();
    (value, grads.get(x).unwrap().clone())
}

/// Absolute tolerance at logits near 1e4: the shifted logits themselves are
/// rounded to `ulp(1e4) = 1.8e-12`, and a few such roundings add up.
const HUGE_LOGIT_ATOL: f64 = 1e-9;

fn assert_all_close(
    got: &Tensor<f64>,
    want: &Tensor<f64>,
    what: &str,
) -> Result<(), TestCaseError> {
    for (k, (g, w)) in got.data().iter().zip(want.data()).enumerate() {
        prop_assert!(g.is_finite(), "{what}: element {k} is {g}");
        prop_assert!(
            (g - w).abs() <= HUGE_LOGIT_ATOL,
            "{what}: element {k} is {g:e}, expected {w:e}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Softmax and log-softmax are invariant to a shift of each row, so rows
    /// moved to +-1e4 give the values and gradients of the unshifted rows,
    /// and those equal the textbook formulas.
    #[test]
    fn softmax_family_at_huge_logits((z, signs) in (1usize..5, 1usize..6).prop_flat_map(|(rows, cols)| {
        (tensor(vec![rows, cols], -5.0, 5.0), prop::collection::vec(any::<bool>(), rows))
    }), seed in any::<u64>()) {
        let shifts: Vec<f64> = signs.iter().map(|&up| if up { 1e4 } else { -1e4 }).collect();
        let huge = shift_rows(&z, &shifts);
        let (_, cols) = z.dims2("test");

        let (softmax_huge, softmax_grad_huge) = value_and_gradient(&huge, seed, |x| x.softmax());
        let (softmax_z, softmax_grad_z) = value_and_gradient(&z, seed, |x| x.softmax());
        let naive_softmax: Vec<f64> = z.data().chunks_exact(cols)
            .flat_map(|row| { let lse = naive_log_sum_exp(row); row.iter().map(move |v| (v - lse).exp()) })
            .collect();
        assert_all_close(&softmax_huge, &Tensor::from_vec(naive_softmax, z.shape()), "softmax")?;
        assert_all_close(&softmax_grad_huge, &softmax_grad_z, "softmax gradient")?;
        assert_all_close(&softmax_z, &softmax_huge, "softmax unshifted")?;

        let (log_softmax_huge, log_softmax_grad_huge) = value_and_gradient(&huge, seed, |x| x.log_softmax());
        let (_, log_softmax_grad_z) = value_and_gradient(&z, seed, |x| x.log_softmax());
        let naive_log_softmax: Vec<f64> = z.data().chunks_exact(cols)
            .flat_map(|row| { let lse = naive_log_sum_exp(row); row.iter().map(move |v| v - lse) })
            .collect();
        assert_all_close(&log_softmax_huge, &Tensor::from_vec(naive_log_softmax, z.shape()), "log_softmax")?;
        assert_all_close(&log_softmax_grad_huge, &log_softmax_grad_z, "log_softmax gradient")?;
    }

    /// Cross-entropy of rows shifted to +-1e4 equals that of the unshifted
    /// rows, and so does its gradient.
    #[test]
    fn cross_entropy_at_huge_logits((z, signs, labels) in (1usize..5, 1usize..6).prop_flat_map(|(rows, cols)| {
        (tensor(vec![rows, cols], -5.0, 5.0), prop::collection::vec(any::<bool>(), rows), prop::collection::vec(0..cols, rows))
    })) {
        let shifts: Vec<f64> = signs.iter().map(|&up| if up { 1e4 } else { -1e4 }).collect();
        let huge = shift_rows(&z, &shifts);
        let (_, cols) = z.dims2("test");

        let (loss_huge, grad_huge) = value_and_gradient(&huge, 0, |x| x.cross_entropy(&labels).unwrap());
        let (_, grad_z) = value_and_gradient(&z, 0, |x| x.cross_entropy(&labels).unwrap());
        let naive: f64 = z.data().chunks_exact(cols).zip(&labels)
            .map(|(row, &label)| naive_log_sum_exp(row) - row[label])
            .sum::<f64>() / labels.len() as f64;
        assert_all_close(&loss_huge, &Tensor::scalar(naive), "cross_entropy")?;
        assert_all_close(&grad_huge, &grad_z, "cross_entropy gradient")?;
    }
}

/// Softmax, log-softmax and the cross-entropy of `logits` computed in f64 by
/// the max-subtracted definitions.
fn reference_softmax_family(
    logits: &[f64],
    cols: usize,
    labels: &[usize],
) -> (Vec<f64>, Vec<f64>, f64) {
    let (mut softmax, mut log_softmax, mut loss) = (Vec::new(), Vec::new(), 0.0);
    for (row, &label) in logits.chunks_exact(cols).zip(labels) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        softmax.extend(row.iter().map(|v| (v - max - log_sum).exp()));
        log_softmax.extend(row.iter().map(|v| (v - max) - log_sum));
        loss += log_sum - (row[label] - max);
    }
    (softmax, log_softmax, loss / labels.len() as f64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// In f32 the logits near 1e4 are spaced 1e-3 apart, so any rounding at
    /// that magnitude would show as an error of about 1e-3. The results must
    /// instead match f64 on the same f32 logits to f32 precision: softmax to
    /// 1e-6 absolute, log-softmax and the cross-entropy to 1e-5 relative.
    #[test]
    fn softmax_family_at_huge_logits_in_f32((z, signs, labels) in (1usize..5, 1usize..6).prop_flat_map(|(rows, cols)| {
        (tensor(vec![rows, cols], -5.0, 5.0), prop::collection::vec(any::<bool>(), rows), prop::collection::vec(0..cols, rows))
    })) {
        let shifts: Vec<f64> = signs.iter().map(|&up| if up { 1e4 } else { -1e4 }).collect();
        let (_, cols) = z.dims2("test");
        let huge: Vec<f32> = shift_rows(&z, &shifts).data().iter().map(|&v| v as f32).collect();
        let exact: Vec<f64> = huge.iter().map(|&v| v as f64).collect();
        let (softmax, log_softmax, loss) = reference_softmax_family(&exact, cols, &labels);

        let tape = Tape::new();
        let x = tape.leaf(Tensor::from_vec(huge, z.shape()));
        for (k, (got, want)) in x.softmax().value().data().iter().zip(&softmax).enumerate() {
            prop_assert!((*got as f64 - want).abs() <= 1e-6, "softmax element {k}: {got:e}, f64 {want:e}");
        }
        for (k, (got, want)) in x.log_softmax().value().data().iter().zip(&log_softmax).enumerate() {
            let error = (*got as f64 - want).abs();
            prop_assert!(error <= 1e-5 * want.abs().max(1.0), "log_softmax element {k}: {got:e}, f64 {want:e}");
        }
        let got = x.cross_entropy(&labels).unwrap().item() as f64;
        prop_assert!((got - loss).abs() <= 1e-5 * loss.abs().max(1.0), "cross_entropy {got:e}, f64 {loss:e}");
    }
}

/// Rows that mix +1e4 and -1e4: the softmax is one-hot, the cross-entropy
/// of a -1e4 label is 2e4, and nothing is NaN.
#[test]
fn softmax_family_with_mixed_huge_logits() {
    let logits = Tensor::<f64>::from_vec(vec![1e4, -1e4, 0.0, -1e4, 1e4, 1e4], &[2, 3]);
    let tape = Tape::new();
    let x = tape.leaf(logits);

    assert_eq!(x.softmax().value().data(), &[1.0, 0.0, 0.0, 0.0, 0.5, 0.5]);
    let log_softmax = x.log_softmax().value();
    assert_eq!(log_softmax.data()[..3], [0.0, -2e4, -1e4]);
    assert!(
        log_softmax.data().iter().all(|v| v.is_finite()),
        "{log_softmax:?}"
    );

    // Row 0, label 1: -log_softmax = 2e4. Row 1, label 0: 2e4 + ln 2.
    let loss = x.cross_entropy(&[1, 0]).unwrap();
    let want = (2e4 + 2e4 + 2.0_f64.ln()) / 2.0;
    assert!(
        (loss.item() - want).abs() <= 1e-9,
        "{} vs {want}",
        loss.item()
    );
    // (softmax - onehot) / batch
    let grad = loss.backward().get(x).unwrap().clone();
    assert_eq!(grad.data(), &[0.5, -0.5, 0.0, -0.5, 0.25, 0.25]);

    let tape32 = Tape::new();
    let x32 = tape32.leaf(Tensor::<f32>::from_vec(
        vec![1e4, -1e4, 0.0, -1e4, 1e4, 1e4],
        &[2, 3],
    ));
    let loss32 = x32.cross_entropy(&[1, 0]).unwrap();
    assert!(loss32.item().is_finite());
    assert!(
        loss32
            .backward()
            .get(x32)
            .unwrap()
            .data()
            .iter()
            .all(|v| v.is_finite())
    );
}

// ---------------------------------------------------------------------------
// Backward twice

/// A graph with every kind of node: a linear layer, a value used twice,
/// exp, log-softmax and the fused cross-entropy.
fn mixed_graph_gradients(tape: &Tape<f64>, rng: &mut StdRng) -> Vec<Vec<f64>> {
    let mut random = |shape: &[usize]| {
        let count = shape.iter().product();
        Tensor::from_vec(
            (0..count).map(|_| rng.random_range(-1.0..1.0)).collect(),
            shape,
        )
    };
    let x = tape.constant(random(&[3, 4]));
    let w = tape.leaf(random(&[5, 4]));
    let b = tape.leaf(random(&[5]));
    let y = x.linear(w, b);
    let z = y.mul(y).add(y.exp()).log_softmax();
    let loss = z.add(y).cross_entropy(&[0, 4, 2]).unwrap();
    let grads = loss.backward();
    vec![
        grads.get(w).unwrap().data().to_vec(),
        grads.get(b).unwrap().data().to_vec(),
    ]
}

#[test]
fn second_backward_on_fresh_tape_is_identical() {
    let first = mixed_graph_gradients(&Tape::new(), &mut StdRng::seed_from_u64(7));
    let second = mixed_graph_gradients(&Tape::new(), &mut StdRng::seed_from_u64(7));
    assert_eq!(first, second);
}

#[test]
fn second_backward_on_same_tape_is_identical() {
    let tape = Tape::new();
    let a = tape.leaf(Tensor::<f64>::from_vec(vec![0.5, -1.0, 2.0], &[1, 3]));
    let loss = a.mul(a).add(a.exp()).cross_entropy(&[1]).unwrap();
    let first = loss.backward().get(a).unwrap().clone();
    let second = loss.backward().get(a).unwrap().clone();
    assert_eq!(first, second);
}

// ---------------------------------------------------------------------------
// The Leaky neuron

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// One membrane update, its gradient with respect to the current, the
    /// previous membrane, beta and the threshold, for each reset mode.
    #[test]
    fn leaky_update_gradients(inputs in leaky_inputs(), reset in reset_mode(), seed in any::<u64>()) {
        let leaky = Leaky::new(0.5).with_reset(reset);
        check_gradients(&inputs, seed, move |v| {
            let vars = LeakyVars { beta: v[2], threshold: v[3] };
            let (_, membrane) = leaky.step(&vars, v[0], v[1]);
            membrane
        })?;
    }

    /// Several steps with the same current reused at every step, as the
    /// network reuses `fc1(x)`. `L` weighs the sum of the membranes. Elements
    /// whose perturbation flips a spike (and so a later reset) are skipped.
    #[test]
    fn leaky_unrolled_gradients((current, beta, threshold) in (1usize..4, 1usize..5).prop_flat_map(|(batch, neurons)| {
        (tensor(vec![batch, neurons], -0.5, 1.5), per_neuron(neurons, 0.05, 0.95), per_neuron(neurons, 0.5, 1.5))
    }), steps in 1usize..7, reset in reset_mode(), seed in any::<u64>()) {
        let leaky = Leaky::new(0.5).with_reset(reset);
        let (checked, skipped) = check_where_smooth(&[current, beta, threshold], seed, move |v| {
            let tape = v[0].tape();
            let shape = v[0].shape();
            let vars = LeakyVars { beta: v[1], threshold: v[2] };
            let mut membrane = Leaky::init_leaky(tape, shape[0], shape[1]);
            let mut total = tape.constant(Tensor::zeros(&shape));
            let mut spikes = Vec::new();
            for _ in 0..steps {
                let (spike, next) = leaky.step(&vars, v[0], membrane);
                membrane = next;
                total = total.add(membrane);
                spikes.push(spike);
            }
            (total, spikes)
        })?;
        mostly_checked(checked, skipped)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// The fused op that runs a Leaky layer over all steps, emitting the
    /// membranes, with a static current (layer 1) or one per step (layer 2).
    /// Elements whose perturbation flips a spike are skipped.
    #[test]
    fn leaky_recurrence_gradients((current, beta, threshold, steps, kind) in (1usize..4, 1usize..5, 1usize..6, any::<bool>())
        .prop_flat_map(|(batch, neurons, steps, per_step)| {
            let rows = if per_step { steps * batch } else { batch };
            let kind = if per_step { Current::PerStep } else { Current::Static };
            (
                tensor(vec![rows, neurons], -0.5, 1.5),
                per_neuron(neurons, 0.05, 0.95),
                per_neuron(neurons, 0.5, 1.5),
                Just(steps),
                Just(kind),
            )
        }), reset in reset_mode(), seed in any::<u64>())
    {
        let (checked, skipped) = check_where_smooth(&[current, beta, threshold], seed, move |v| {
            let recurrence = LeakyRecurrence::new(reset, SpikeGrad::default(), steps, kind, Emit::Membrane);
            let membranes = v[0].tape().apply(recurrence, v);
            let spikes = v[0].tape().constant(spikes_of(&membranes.value(), &v[2].value()));
            (membranes, vec![spikes])
        })?;
        mostly_checked(checked, skipped)?;
    }
}

// ---------------------------------------------------------------------------
// A whole network

proptest! {
    #![proptest_config(ProptestConfig::with_cases(NET_CASES))]

    /// The loss of a small network against every parameter: both weights,
    /// both biases, both betas and both thresholds, for each reset mode.
    ///
    /// Finite differences see the true derivative of a piecewise-smooth
    /// loss, in which a spike has zero slope. The surrogate gradient is
    /// deliberately not that, so this test gives layer 1 the zero-slope ATan
    /// (`alpha = 0`), with which backward computes the true derivative. The
    /// next test keeps the default surrogate and checks the parameters it
    /// does not touch.
    #[test]
    fn net_gradients_with_zero_slope_surrogate(case in small_net(), forward in forward_kind()) {
        let (checked, skipped) = check_where_smooth(&case.parameters, 0, |p| {
            net_loss(&case, forward, SpikeGrad::ATan { alpha: 0.0 }, p)
        })?;
        mostly_checked(checked, skipped)?;
    }

    /// With the default ATan surrogate, layer 2's weight, bias, beta and
    /// threshold. The output spikes do not enter the loss, so no surrogate
    /// lies on their path and backward is the true derivative.
    #[test]
    fn net_layer2_gradients_with_atan(case in small_net(), forward in forward_kind()) {
        let layer1 = case.parameters[..2].to_vec();
        let (th1, beta1) = (case.parameters[6].clone(), case.parameters[4].clone());
        let layer2 = vec![
            case.parameters[2].clone(),
            case.parameters[3].clone(),
            case.parameters[5].clone(),
            case.parameters[7].clone(),
        ];
        let (checked, skipped) = check_where_smooth(&layer2, 0, |p| {
            let tape = p[0].tape();
            let all = [
                tape.constant(layer1[0].clone()),
                tape.constant(layer1[1].clone()),
                p[0],
                p[1],
                tape.constant(beta1.clone()),
                p[2],
                tape.constant(th1.clone()),
                p[3],
            ];
            net_loss(&case, forward, SpikeGrad::default(), &all)
        })?;
        mostly_checked(checked, skipped)?;
    }
}

// ---------------------------------------------------------------------------
// Surrogate gradients

/// Every surrogate, written out from snnTorch 1.0's `snntorch/surrogate.py`
/// (repository jeshraghian/snntorch), as a function of `x = U - threshold`.
fn formula(spike_grad: SpikeGrad, x: f64) -> f64 {
    use std::f64::consts::PI;
    match spike_grad {
        SpikeGrad::ATan { alpha } => alpha / 2.0 / (1.0 + (PI / 2.0 * alpha * x).powi(2)),
        SpikeGrad::FastSigmoid { slope } => 1.0 / (slope * x.abs() + 1.0).powi(2),
        // Evaluated at |x|, because the function is even and the direct form
        // overflows to NaN for large negative x (see the sigmoid tests below).
        SpikeGrad::Sigmoid { slope } => {
            slope * (-slope * x.abs()).exp() / ((-slope * x.abs()).exp() + 1.0).powi(2)
        }
        SpikeGrad::Triangular { threshold } => {
            if x >= 0.0 {
                -threshold
            } else {
                threshold
            }
        }
        SpikeGrad::StraightThrough => 1.0,
        // A user's surrogate is its own formula.
        SpikeGrad::Custom { grad, .. } => grad(x),
    }
}

/// snnTorch's surrogates with their default parameters.
fn snntorch_defaults() -> [SpikeGrad; 5] {
    [
        SpikeGrad::atan(),
        SpikeGrad::fast_sigmoid(),
        SpikeGrad::sigmoid(),
        SpikeGrad::triangular(),
        SpikeGrad::StraightThrough,
    ]
}

/// The spike's gradient with respect to the membrane, through the tape.
fn spike_gradient<F: autodiff::Float>(
    spike_grad: SpikeGrad,
    membrane: &[F],
    threshold: F,
) -> Vec<F> {
    let tape = Tape::new();
    let u = tape.leaf(Tensor::from_vec(membrane.to_vec(), &[membrane.len()]));
    let spikes = u.spike(tape.constant(Tensor::scalar(threshold)), spike_grad);
    spikes.sum().backward().get(u).unwrap().data().to_vec()
}

/// The spike's gradient with respect to a per-neuron threshold, through the
/// tape: `dS/dthreshold = -dS/dU`.
fn spike_threshold_gradient(spike_grad: SpikeGrad, membrane: &[f64], threshold: f64) -> Vec<f64> {
    let tape = Tape::new();
    let u = tape.constant(Tensor::from_vec(membrane.to_vec(), &[1, membrane.len()]));
    let theta = tape.leaf(Tensor::full(&[membrane.len()], threshold));
    let spikes = u.spike(theta, spike_grad);
    spikes.sum().backward().get(theta).unwrap().data().to_vec()
}

#[test]
fn surrogate_defaults_are_snntorch_defaults() {
    assert_eq!(SpikeGrad::default(), SpikeGrad::ATan { alpha: 2.0 });
    assert_eq!(SpikeGrad::atan(), SpikeGrad::ATan { alpha: 2.0 });
    assert_eq!(
        SpikeGrad::fast_sigmoid(),
        SpikeGrad::FastSigmoid { slope: 25.0 }
    );
    assert_eq!(SpikeGrad::sigmoid(), SpikeGrad::Sigmoid { slope: 25.0 });
    assert_eq!(
        SpikeGrad::triangular(),
        SpikeGrad::Triangular { threshold: 1.0 }
    );
}

/// Through the tape, at the threshold, on both sides of it and at +-1e20,
/// every surrogate equals its formula and is finite.
#[test]
fn surrogates_match_formulas_through_the_tape() {
    let threshold = 0.7;
    let offsets = [-1e20, -3.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 3.0, 1e20];
    let membrane: Vec<f64> = offsets.iter().map(|x| threshold + x).collect();
    for spike_grad in snntorch_defaults() {
        let got = spike_gradient(spike_grad, &membrane, threshold);
        for (&u, g) in membrane.iter().zip(&got) {
            let want = formula(spike_grad, u - threshold);
            assert!(g.is_finite(), "{spike_grad:?} at U = {u:e}: {g}");
            assert!(
                (g - want).abs() <= 1e-14 * want.abs(),
                "{spike_grad:?} at U = {u:e}: {g:e}, formula {want:e}"
            );
        }
        let negated: Vec<f64> = got.iter().map(|g| -g).collect();
        assert_eq!(
            spike_threshold_gradient(spike_grad, &membrane, threshold),
            negated,
            "{spike_grad:?}"
        );
    }
}

#[test]
fn surrogates_peak_values_at_threshold() {
    let at_threshold = |s| spike_gradient(s, &[1.0_f64], 1.0)[0];
    assert_eq!(at_threshold(SpikeGrad::atan()), 1.0);
    assert_eq!(at_threshold(SpikeGrad::ATan { alpha: 4.0 }), 2.0);
    assert_eq!(at_threshold(SpikeGrad::fast_sigmoid()), 1.0);
    assert_eq!(at_threshold(SpikeGrad::sigmoid()), 6.25);
    // snnTorch negates where x >= 0, so exactly at the threshold it is -1.
    assert_eq!(at_threshold(SpikeGrad::triangular()), -1.0);
    assert_eq!(at_threshold(SpikeGrad::StraightThrough), 1.0);
}

#[test]
fn surrogates_finite_at_huge_inputs_in_f32() {
    for spike_grad in snntorch_defaults() {
        let got = spike_gradient(spike_grad, &[-1e20_f32, 1.0, 1e20], 1.0);
        assert!(got.iter().all(|g| g.is_finite()), "{spike_grad:?}: {got:?}");
    }
}

/// snnTorch's direct sigmoid form divides `inf` by `inf` in f32 below about
/// x = -3.6; ours stays finite there and equals the formula evaluated in f64.
#[test]
fn sigmoid_surrogate_finite_where_direct_form_is_nan() {
    let slope = 25.0_f32;
    for x in [-3.6_f32, -4.0, -10.0, -30.0, -1e20] {
        let direct = slope * (-slope * x).exp() / ((-slope * x).exp() + 1.0).powi(2);
        assert!(direct.is_nan(), "the direct form at {x} is {direct}");
        let ours = Surrogate::<f32>::grad(&SpikeGrad::sigmoid(), x);
        assert!(ours.is_finite(), "at {x}: {ours}");
        assert!(ours >= 0.0, "at {x}: {ours}");
        // Near 1e-40, f32 values are subnormal and carry an absolute rounding
        // error of about 1e-45 times the slope.
        let want = formula(SpikeGrad::sigmoid(), x as f64);
        assert!(
            (ours as f64 - want).abs() <= 1e-6 * want + 1e-43,
            "at {x}: {ours:e} vs {want:e}"
        );
    }
}

/// Where snnTorch's direct sigmoid form is finite in f64 (|x| up to about
/// 14, beyond which its square overflows), ours equals it to rounding.
#[test]
fn sigmoid_surrogate_equals_direct_form_where_finite() {
    let slope = 25.0_f64;
    let mut x = -14.0;
    while x <= 14.0 {
        let want = slope * (-slope * x).exp() / ((-slope * x).exp() + 1.0).powi(2);
        let got = Surrogate::<f64>::grad(&SpikeGrad::sigmoid(), x);
        assert!(
            (got - want).abs() <= 1e-13 * want,
            "at {x}: {got:e} vs {want:e}"
        );
        x += 0.125;
    }
}

//! The engine against snnTorch's own numbers.
//!
//! Each network case in `tests/fixtures/` contains the weights, inputs and
//! labels of a small Tutorial 5 network and everything snnTorch 1.0 computed
//! from them in float64: the per-step currents, spikes and membranes, the
//! per-step and total loss, every gradient, the parameters after one Adam
//! step and after three. `tools/snntorch-reference/generate.py` writes new
//! cases in the same format.
//!
//! Every case runs twice, through the code that training and evaluation
//! use (`Net::forward` and `Net::forward_fused` on a tape, `snn::train_step`
//! and `snn::train_step_unrolled`, `Net::infer`, `snn::eval_step`):
//! - in f64, each value within `atol 1e-12 + rtol 1e-9 * |reference|`;
//! - in f32, within `atol 1e-6 + rtol 1e-4 * |reference|`.
//!
//! Spikes must be equal. A NaN fails every comparison. Adam steps are
//! compared as updates (parameters after minus before) as well as values,
//! so a wrong update cannot hide inside a large weight.

use std::path::{Path, PathBuf};

use autodiff::{Float, Tape, Tensor};
use serde_json::Value;
use snn::loss::{membrane_cross_entropy, stacked_cross_entropy};
use snn::{
    Adam, Leaky, Linear, Net, Reset, SpikeGrad, StepOutput, TrainError, eval_step, train_step,
    train_step_unrolled,
};

/// The network cases, each tested in f64 and f32.
const NETWORK_CASES: [&str; 4] = [
    "golden_tiny_fixed_beta.json",
    "golden_tiny_learn_beta.json",
    "golden_reset_zero.json",
    "generated_zero_reset_learn_beta.json",
];

/// The surrogate-gradient cases: spikes and `dS/dU` on a grid of membranes.
const SURROGATE_CASES: [&str; 2] = ["golden_surrogate_atan.json", "generated_surrogates.json"];

#[derive(Clone, Copy, Debug)]
struct Tolerance {
    rtol: f64,
    atol: f64,
}

const F64: Tolerance = Tolerance {
    rtol: 1e-9,
    atol: 1e-12,
};
const F32: Tolerance = Tolerance {
    rtol: 1e-4,
    atol: 1e-6,
};

// ---------------------------------------------------------------------------
// Reading a case

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// One case file, parsed. Every accessor panics with the file and the key
/// when the value is missing or malformed.
struct Case {
    file: String,
    json: Value,
}

impl Case {
    fn load(file: &str) -> Self {
        let path = fixture_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"));
        Self {
            file: file.to_string(),
            json,
        }
    }

    fn get<'a>(&'a self, path: &[&str]) -> &'a Value {
        let mut value = &self.json;
        for key in path {
            value = value
                .get(key)
                .unwrap_or_else(|| panic!("{}: missing key {}", self.file, path.join(".")));
        }
        value
    }

    fn number(&self, path: &[&str]) -> f64 {
        let value = self.get(path);
        // A scalar is a bare number or `{"shape": [], "data": [x]}`.
        let number = match value.get("data") {
            Some(data) => data.get(0),
            None => Some(value),
        };
        number
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{}: key {} is not a number", self.file, path.join(".")))
    }

    /// Reads an array `{"shape": [...], "data": [...]}`: its shape and its
    /// values.
    fn array(&self, path: &[&str]) -> (Vec<usize>, Vec<f64>) {
        let value = self.get(path);
        let name = path.join(".");
        let shape: Vec<usize> = value
            .get("shape")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: key {name} has no shape array", self.file))
            .iter()
            .map(|d| {
                d.as_u64()
                    .unwrap_or_else(|| panic!("{}: key {name} has an invalid shape", self.file))
                    as usize
            })
            .collect();
        let data: Vec<f64> = value
            .get("data")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: key {name} has no data array", self.file))
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        let expected: usize = shape.iter().product();
        assert_eq!(
            data.len(),
            expected,
            "{}: key {name} has shape {shape:?} but {} values",
            self.file,
            data.len()
        );
        (shape, data)
    }

    fn tensor<F: Float>(&self, key: &str) -> Tensor<F> {
        let (shape, data) = self.array(&[key]);
        Tensor::from_f64(&data, &shape)
    }

    fn labels(&self) -> Vec<usize> {
        self.array(&["targets"])
            .1
            .iter()
            .map(|&v| v as usize)
            .collect()
    }
}

/// Returns the key of a parameter in a case file, from its PyTorch name.
fn short_name(parameter: &str) -> &'static str {
    match parameter {
        "fc1.weight" => "W1",
        "fc1.bias" => "b1",
        "fc2.weight" => "W2",
        "fc2.bias" => "b2",
        "lif1.beta" => "beta1",
        "lif2.beta" => "beta2",
        other => panic!("unknown parameter name {other} in param_order"),
    }
}

fn reset_mechanism(case: &Case) -> Reset {
    match case.get(&["config", "reset_mechanism"]).as_str() {
        Some("subtract") => Reset::Subtract,
        Some("zero") => Reset::Zero,
        Some("none") => Reset::None,
        other => panic!(
            "{}: config.reset_mechanism {other:?} is not subtract, zero or none",
            case.file
        ),
    }
}

/// Builds the case's network: its weights and both Leaky layers from
/// `config`.
fn build_net<F: Float>(case: &Case) -> Net<F> {
    let learn_beta = case
        .get(&["config", "learn_beta"])
        .as_bool()
        .expect("config.learn_beta is a bool");
    let leaky = Leaky::new(case.number(&["config", "beta"]))
        .with_threshold(case.number(&["config", "threshold"]))
        .with_reset(reset_mechanism(case))
        .with_learn_beta(learn_beta);
    let net = Net {
        fc1: Linear::from_parameters(case.tensor("W1"), case.tensor("b1")),
        lif1: leaky.clone(),
        fc2: Linear::from_parameters(case.tensor("W2"), case.tensor("b2")),
        lif2: leaky,
        num_steps: case.number(&["config", "num_steps"]) as usize,
    };
    net.check().unwrap_or_else(|e| panic!("{}: {e}", case.file));

    let names: Vec<String> = net.parameters().into_iter().map(|(name, _)| name).collect();
    let order: Vec<&str> = case
        .get(&["config", "optimizer", "param_order"])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        names, order,
        "{}: the network's parameters differ from config.optimizer.param_order",
        case.file
    );
    net
}

fn build_adam<F: Float>(case: &Case) -> Adam<F> {
    let mut adam = Adam::new(case.number(&["config", "optimizer", "lr"]));
    let betas = case
        .get(&["config", "optimizer", "betas"])
        .as_array()
        .expect("config.optimizer.betas is an array");
    adam.betas = (betas[0].as_f64().unwrap(), betas[1].as_f64().unwrap());
    adam.eps = case.number(&["config", "optimizer", "eps"]);
    adam
}

// ---------------------------------------------------------------------------
// Comparing

/// Row-major multi-index of flat index `k` in `shape`.
fn multi_index(mut k: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &dim) in shape.iter().enumerate().rev() {
        index[i] = k % dim.max(1);
        k /= dim.max(1);
    }
    index
}

/// Checks `|ours - reference| <= atol + rtol * |reference|` element by
/// element; a NaN on either side fails.
fn assert_close(
    context: &str,
    key: &str,
    ours: &[f64],
    reference: &[f64],
    shape: &[usize],
    tolerance: Tolerance,
) {
    assert_eq!(
        ours.len(),
        reference.len(),
        "{context}, key {key}: {} values, reference has {}",
        ours.len(),
        reference.len()
    );
    for (k, (&a, &b)) in ours.iter().zip(reference).enumerate() {
        let allowed = tolerance.atol + tolerance.rtol * b.abs();
        let within = (a - b).abs() <= allowed;
        assert!(
            within,
            "{context}, key {key}: first bad index {k} {:?}: ours {a:e}, reference {b:e}, |difference| {:e} > allowed {allowed:e}",
            multi_index(k, shape),
            (a - b).abs()
        );
    }
}

/// Checks that spikes are equal, element by element.
fn assert_spikes_equal(context: &str, key: &str, ours: &[f64], reference: &[f64], shape: &[usize]) {
    assert_eq!(
        ours.len(),
        reference.len(),
        "{context}, key {key}: {} values, reference has {}",
        ours.len(),
        reference.len()
    );
    if let Some(k) = ours.iter().zip(reference).position(|(a, b)| a != b) {
        panic!(
            "{context}, key {key}: first bad index {k} {:?}: ours {}, reference {}",
            multi_index(k, shape),
            ours[k],
            reference[k]
        );
    }
}

/// Compares parameters after Adam steps, as values and as updates from
/// `before`.
fn assert_parameters(
    context: &str,
    case: &Case,
    ours: &Net<impl Float>,
    before: &[Vec<f64>],
    reference_key: impl Fn(&str) -> Vec<String>,
    tolerance: Tolerance,
) {
    for ((name, tensor), before) in ours.parameters().into_iter().zip(before) {
        let path = reference_key(short_name(&name));
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let (shape, reference) = case.array(&path);
        let ours = tensor.to_f64_vec();
        let key = path.join(".");
        assert_close(context, &key, &ours, &reference, &shape, tolerance);

        let our_update: Vec<f64> = ours.iter().zip(before).map(|(a, b)| a - b).collect();
        let reference_update: Vec<f64> = reference.iter().zip(before).map(|(a, b)| a - b).collect();
        assert_close(
            context,
            &format!("{key} minus initial {name}"),
            &our_update,
            &reference_update,
            &shape,
            tolerance,
        );
    }
}

// ---------------------------------------------------------------------------
// Running a case

/// Values of all steps, concatenated: `[num_steps, batch, neurons]`.
fn stacked(values: impl Iterator<Item = Vec<f64>>) -> Vec<f64> {
    values.flatten().collect()
}

fn check_network_case<F: Float>(file: &str, tolerance: Tolerance) {
    let case = Case::load(file);
    let context = format!(
        "case {} ({})",
        case.get(&["case"]).as_str().unwrap_or(file),
        F::NAME
    );
    let net = build_net::<F>(&case);
    let x: Tensor<F> = case.tensor("x");
    let labels = case.labels();

    forward_and_gradients(&case, &context, &net, &x, &labels, tolerance);
    fused_forward_and_gradients(&case, &context, &net, &x, &labels, tolerance);
    tape_free_forward(&case, &context, &net, &x, tolerance);
    for (name, step) in [
        ("train_step", train_step::<F> as Step<F>),
        ("train_step_unrolled", train_step_unrolled::<F>),
    ] {
        let context = format!("{context}, {name}");
        one_adam_step(&case, &context, step, &net, &x, &labels, tolerance);
        adam_trajectory(&case, &context, step, &net, &x, &labels, tolerance);
    }
}

/// A training step: `snn::train_step` (the fused ops) or
/// `snn::train_step_unrolled` (six tape nodes per time step).
type Step<F> =
    fn(&mut Net<F>, &mut Adam<F>, Tensor<F>, &[usize]) -> Result<StepOutput<F>, TrainError>;

/// The per-step records, the losses and every gradient.
fn forward_and_gradients<F: Float>(
    case: &Case,
    context: &str,
    net: &Net<F>,
    x: &Tensor<F>,
    labels: &[usize],
    tolerance: Tolerance,
) {
    let tape = Tape::new();
    let vars = net.register(&tape);
    let records = net.forward(&vars, tape.constant(x.clone()));

    let value = |v: autodiff::Var<'_, F>| v.value().to_f64_vec();
    let ours = [
        ("cur1", stacked(records.iter().map(|r| value(r.cur1)))),
        ("spk1", stacked(records.iter().map(|r| value(r.spk1)))),
        ("mem1", stacked(records.iter().map(|r| value(r.mem1)))),
        ("cur2", stacked(records.iter().map(|r| value(r.cur2)))),
        ("spk2", stacked(records.iter().map(|r| value(r.spk2)))),
        ("mem2", stacked(records.iter().map(|r| value(r.mem2)))),
    ];
    for (key, ours) in &ours {
        let (shape, reference) = case.array(&[key]);
        if key.starts_with("spk") {
            assert_spikes_equal(context, key, ours, &reference, &shape);
        } else {
            assert_close(context, key, ours, &reference, &shape, tolerance);
        }
    }

    let mem2: Vec<_> = records.iter().map(|r| r.mem2).collect();
    let step_losses: Vec<f64> = mem2
        .iter()
        .map(|m| m.cross_entropy(labels).unwrap().item().to_f64())
        .collect();
    let (shape, reference) = case.array(&["step_losses"]);
    assert_close(
        context,
        "step_losses",
        &step_losses,
        &reference,
        &shape,
        tolerance,
    );

    let loss = membrane_cross_entropy(&mem2, labels).unwrap();
    assert_close(
        context,
        "loss",
        &[loss.item().to_f64()],
        &[case.number(&["loss"])],
        &[],
        tolerance,
    );

    let grads = loss.backward();
    for ((name, _), var) in net.parameters().into_iter().zip(net.parameter_vars(&vars)) {
        let key = format!("grad_{}", short_name(&name));
        let (shape, reference) = case.array(&[&key]);
        assert_close(
            context,
            &key,
            &grads.get_or_zeros(var).to_f64_vec(),
            &reference,
            &shape,
            tolerance,
        );
    }
}

/// The fused forward pass that training uses: the stacked input current
/// and membranes of the output layer, the loss and every gradient.
fn fused_forward_and_gradients<F: Float>(
    case: &Case,
    context: &str,
    net: &Net<F>,
    x: &Tensor<F>,
    labels: &[usize],
    tolerance: Tolerance,
) {
    let context = format!("{context}, Net::forward_fused");
    let tape = Tape::new();
    let vars = net.register(&tape);
    let record = net.forward_fused(&vars, tape.constant(x.clone()));

    // The stacked rows [step 0: batch rows, step 1: ...] are the reference's
    // [num_steps, batch, neurons] in the same row-major order.
    let (shape, reference) = case.array(&["cur2"]);
    assert_close(
        &context,
        "cur2",
        &record.cur2.value().to_f64_vec(),
        &reference,
        &shape,
        tolerance,
    );
    let (shape, reference) = case.array(&["mem2"]);
    assert_close(
        &context,
        "mem2",
        &record.mem2.value().to_f64_vec(),
        &reference,
        &shape,
        tolerance,
    );

    let loss = stacked_cross_entropy(record.mem2, labels, net.num_steps).unwrap();
    assert_close(
        &context,
        "loss",
        &[loss.item().to_f64()],
        &[case.number(&["loss"])],
        &[],
        tolerance,
    );

    let grads = loss.backward();
    for ((name, _), var) in net.parameters().into_iter().zip(net.parameter_vars(&vars)) {
        let key = format!("grad_{}", short_name(&name));
        let (shape, reference) = case.array(&[&key]);
        assert_close(
            &context,
            &key,
            &grads.get_or_zeros(var).to_f64_vec(),
            &reference,
            &shape,
            tolerance,
        );
    }
}

/// `Net::infer`, the forward pass without a tape that evaluation uses,
/// gives the same output membranes.
fn tape_free_forward<F: Float>(
    case: &Case,
    context: &str,
    net: &Net<F>,
    x: &Tensor<F>,
    tolerance: Tolerance,
) {
    let inference = net.infer(x);
    let ours = stacked(inference.mem2.iter().map(Tensor::to_f64_vec));
    let (shape, reference) = case.array(&["mem2"]);
    assert_close(
        context,
        "mem2 (Net::infer)",
        &ours,
        &reference,
        &shape,
        tolerance,
    );

    let (_, spk2) = case.array(&["spk2"]);
    let (_, batch, outputs) = (shape[0], shape[1], shape[2]);
    let mut counts = vec![0.0; batch * outputs];
    for step in spk2.chunks_exact(batch * outputs) {
        for (c, s) in counts.iter_mut().zip(step) {
            *c += s;
        }
    }
    assert_spikes_equal(
        context,
        "spike counts of spk2 (Net::infer)",
        &inference.spike_counts.to_f64_vec(),
        &counts,
        &[batch, outputs],
    );
}

/// The parameters of `net` as f64 vectors, in `Net::parameters` order.
fn parameter_values<F: Float>(net: &Net<F>) -> Vec<Vec<f64>> {
    net.parameters()
        .into_iter()
        .map(|(_, t)| t.to_f64_vec())
        .collect()
}

/// One Adam step through `step`.
fn one_adam_step<F: Float>(
    case: &Case,
    context: &str,
    step: Step<F>,
    net: &Net<F>,
    x: &Tensor<F>,
    labels: &[usize],
    tolerance: Tolerance,
) {
    let mut net = net.clone();
    let before = parameter_values(&net);
    let mut adam = build_adam::<F>(case);
    let out =
        step(&mut net, &mut adam, x.clone(), labels).unwrap_or_else(|e| panic!("{context}: {e}"));

    assert_close(
        context,
        "loss",
        &[out.loss.to_f64()],
        &[case.number(&["loss"])],
        &[],
        tolerance,
    );
    assert_parameters(
        context,
        case,
        &net,
        &before,
        |short| vec![format!("{short}_after")],
        tolerance,
    );
}

/// Three Adam steps through `step` on the same batch with one optimizer
/// state.
fn adam_trajectory<F: Float>(
    case: &Case,
    context: &str,
    step: Step<F>,
    net: &Net<F>,
    x: &Tensor<F>,
    labels: &[usize],
    tolerance: Tolerance,
) {
    let mut net = net.clone();
    let before = parameter_values(&net);
    let mut adam = build_adam::<F>(case);
    let steps = case.number(&["adam_trajectory", "steps"]) as usize;

    let mut losses = Vec::new();
    for _ in 0..steps {
        let out = step(&mut net, &mut adam, x.clone(), labels)
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        losses.push(out.loss.to_f64());
    }
    let (shape, reference) = case.array(&["adam_trajectory", "losses_before_each_step"]);
    assert_close(
        context,
        "adam_trajectory.losses_before_each_step",
        &losses,
        &reference,
        &shape,
        tolerance,
    );

    let after = eval_step(&net, x, labels).unwrap().loss.to_f64();
    let reference = case.number(&["adam_trajectory", "loss_after_last_step"]);
    assert_close(
        context,
        "adam_trajectory.loss_after_last_step",
        &[after],
        &[reference],
        &[],
        tolerance,
    );

    assert_parameters(
        context,
        case,
        &net,
        &before,
        |short| vec!["adam_trajectory".to_string(), short.to_string()],
        tolerance,
    );
}

// ---------------------------------------------------------------------------
// Network cases

#[test]
fn tiny_fixed_beta_f64() {
    check_network_case::<f64>("golden_tiny_fixed_beta.json", F64);
}

#[test]
fn tiny_fixed_beta_f32() {
    check_network_case::<f32>("golden_tiny_fixed_beta.json", F32);
}

#[test]
fn tiny_learn_beta_f64() {
    check_network_case::<f64>("golden_tiny_learn_beta.json", F64);
}

#[test]
fn tiny_learn_beta_f32() {
    check_network_case::<f32>("golden_tiny_learn_beta.json", F32);
}

#[test]
fn reset_zero_f64() {
    check_network_case::<f64>("golden_reset_zero.json", F64);
}

#[test]
fn reset_zero_f32() {
    check_network_case::<f32>("golden_reset_zero.json", F32);
}

#[test]
fn generated_zero_reset_learn_beta_f64() {
    check_network_case::<f64>("generated_zero_reset_learn_beta.json", F64);
}

#[test]
fn generated_zero_reset_learn_beta_f32() {
    check_network_case::<f32>("generated_zero_reset_learn_beta.json", F32);
}

/// Every file in `tests/fixtures/` is one of the cases above, so a case
/// added there cannot go untested.
#[test]
fn every_fixture_is_tested() {
    let mut listed: Vec<&str> = NETWORK_CASES
        .iter()
        .chain(&SURROGATE_CASES)
        .copied()
        .collect();
    listed.sort();
    let mut found: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures exists")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    found.sort();
    assert_eq!(
        found, listed,
        "add each case file in tests/fixtures to NETWORK_CASES or SURROGATE_CASES, with its tests"
    );
}

// ---------------------------------------------------------------------------
// Surrogate cases

/// The surrogate that a `grad_<name>` key of a surrogate case holds.
fn surrogate_for_key(key: &str) -> SpikeGrad {
    match key.trim_end_matches("_extra") {
        "grad_atan_alpha2" => SpikeGrad::atan(),
        "grad_fast_sigmoid_slope25" => SpikeGrad::fast_sigmoid(),
        "grad_sigmoid_slope25" => SpikeGrad::sigmoid(),
        "grad_triangular_threshold1" => SpikeGrad::triangular(),
        "grad_straight_through" => SpikeGrad::StraightThrough,
        other => panic!("no surrogate is known for key {other}"),
    }
}

/// Spikes and `dS/dU` of `spike_grad` at `membrane`, through the tape.
fn spikes_and_gradient<F: Float>(
    spike_grad: SpikeGrad,
    membrane: &[f64],
    threshold: f64,
) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let u = tape.leaf(Tensor::<F>::from_f64(membrane, &[membrane.len()]));
    let spikes = u.spike(
        tape.constant(Tensor::scalar(F::from_f64(threshold))),
        spike_grad,
    );
    let grad = spikes.sum().backward().get(u).unwrap().to_f64_vec();
    (spikes.value().to_f64_vec(), grad)
}

/// Checks every `grad_*` key of a surrogate case in f64. A `null` in the
/// reference marks a point where snnTorch itself returns NaN (its sigmoid
/// overflows); ours must be finite there.
fn check_surrogate_case(file: &str) {
    let case = Case::load(file);
    let threshold = case.number(&["threshold"]);
    let object = case.json.as_object().expect("a case is a JSON object");
    for suffix in ["", "_extra"] {
        let Some(_) = object.get(&format!("mem{suffix}")) else {
            continue;
        };
        let (shape, membrane) = case.array(&[&format!("mem{suffix}")]);
        let (_, reference_spikes) = case.array(&[&format!("spike{suffix}")]);
        let extra = suffix == "_extra";
        for key in object
            .keys()
            .filter(|k| k.starts_with("grad_") && k.ends_with("_extra") == extra)
        {
            let spike_grad = surrogate_for_key(key);
            let context = format!("{file} ({spike_grad:?}, f64)");
            let (spikes, grad) = spikes_and_gradient::<f64>(spike_grad, &membrane, threshold);
            assert_spikes_equal(
                &context,
                &format!("spike{suffix}"),
                &spikes,
                &reference_spikes,
                &shape,
            );

            let (_, reference) = case.array(&[key]);
            for (k, (&ours, &reference)) in grad.iter().zip(&reference).enumerate() {
                if reference.is_finite() {
                    assert_close(
                        &context,
                        &format!("{key}[{k}]"),
                        &[ours],
                        &[reference],
                        &[],
                        F64,
                    );
                } else {
                    assert!(
                        ours.is_finite(),
                        "{context}, key {key}: index {k}: ours {ours} where snnTorch gives NaN"
                    );
                }
            }
        }
    }
}

#[test]
fn surrogate_atan_case_f64() {
    check_surrogate_case("golden_surrogate_atan.json");
}

#[test]
fn generated_surrogates_case_f64() {
    check_surrogate_case("generated_surrogates.json");
}

/// The grid `mem` of the ATan case (-1 to 3 in steps of 0.5) is exact in
/// f32, so f32 gives the same spikes and gradients to f32 precision. The
/// extra points such as `1 + 1e-9` round to the threshold in f32 and are
/// left out.
#[test]
fn surrogate_atan_case_f32() {
    let case = Case::load("golden_surrogate_atan.json");
    let threshold = case.number(&["threshold"]);
    let (shape, membrane) = case.array(&["mem"]);
    let (_, reference_spikes) = case.array(&["spike"]);
    for key in [
        "grad_atan_alpha2",
        "grad_fast_sigmoid_slope25",
        "grad_sigmoid_slope25",
    ] {
        let spike_grad = surrogate_for_key(key);
        let context = format!("golden_surrogate_atan.json ({spike_grad:?}, f32)");
        let (spikes, grad) = spikes_and_gradient::<f32>(spike_grad, &membrane, threshold);
        assert_spikes_equal(&context, "spike", &spikes, &reference_spikes, &shape);
        let (_, reference) = case.array(&[key]);
        assert_close(&context, key, &grad, &reference, &shape, F32);
    }
}

//! `snn::functional` and `snn::spikegen` against snnTorch 1.0's own numbers.
//!
//! `tests/fixtures/functional_cases.json` contains records, targets and options
//! with what snnTorch computed from them in float64: each loss value and
//! its gradient with respect to the record, `accuracy_rate`, and
//! `spikegen.latency_code` and `spikegen.latency`.
//! `tools/snntorch-functional/generate.py` writes the file.
//!
//! Values and gradients must agree within `1e-12 + 1e-9 * |reference|` in
//! f64; latency spikes must be equal.

use std::path::Path;

use autodiff::{Tape, Tensor, Var};
use serde_json::Value;
use snn::functional::{
    LossError, MseCountTargets, MseMembraneTargets, accuracy_rate, ce_count_loss, ce_max_membrane_loss, ce_rate_loss,
    mse_count_loss, mse_membrane_loss,
};
use snn::spikegen::{LatencyOptions, latency, latency_code};

const ATOL: f64 = 1e-12;
const RTOL: f64 = 1e-9;

fn load_cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/functional_cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    json["cases"].as_array().expect("the file has a cases list").clone()
}

/// The cases of one kind, and for losses of one loss function.
fn cases(kind: &str, loss: Option<&str>) -> Vec<Value> {
    let selected: Vec<Value> = load_cases()
        .into_iter()
        .filter(|case| case["kind"] == kind && loss.is_none_or(|name| case["loss"] == name))
        .collect();
    assert!(!selected.is_empty(), "no {kind} case {loss:?} in the fixture file");
    selected
}

/// Describes a case in a few words, for failure messages.
fn describe(case: &Value) -> String {
    format!(
        "{} {} on {} ({} steps, options {})",
        case["kind"], case["loss"], case["input_kind"], case["num_steps"], case["options"]
    )
}

fn array(case: &Value, key: &str) -> Tensor<f64> {
    let value = &case[key];
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: {key} has no shape", describe(case)))
        .iter()
        .map(|d| d.as_u64().expect("shape entries are integers") as usize)
        .collect();
    let data: Vec<f64> = value["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: {key} has no data", describe(case)))
        .iter()
        .map(|v| v.as_f64().expect("data entries are numbers"))
        .collect();
    Tensor::from_vec(data, &shape)
}

/// Reads a `[num_steps, batch, classes]` array as the stacked record
/// `[num_steps * batch, classes]`: the same data in the same order.
fn stacked(case: &Value, key: &str) -> Tensor<f64> {
    let tensor = array(case, key);
    let shape = tensor.shape().to_vec();
    assert_eq!(shape.len(), 3, "{}: {key} is not [num_steps, batch, classes]", describe(case));
    tensor.reshape(&[shape[0] * shape[1], shape[2]])
}

fn usize_of(case: &Value, key: &str) -> usize {
    case[key].as_u64().unwrap_or_else(|| panic!("{}: {key} is not an integer", describe(case))) as usize
}

fn option_f64(case: &Value, key: &str, default: f64) -> f64 {
    case["options"].get(key).map_or(default, |v| v.as_f64().expect("numeric option"))
}

fn option_bool(case: &Value, key: &str) -> bool {
    case["options"].get(key).is_some_and(|v| v.as_bool().expect("boolean option"))
}

fn targets(case: &Value) -> Vec<usize> {
    case["targets"].as_array().expect("targets list").iter().map(|v| v.as_u64().expect("integer target") as usize).collect()
}

fn assert_close(context: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= ATOL + RTOL * want.abs(), "{context}: ours {got:e} vs snnTorch {want:e}");
}

fn assert_all_close(context: &str, got: &Tensor<f64>, want: &Tensor<f64>) {
    assert_eq!(got.len(), want.len(), "{context}: element counts differ");
    for (i, (&g, &w)) in got.data().iter().zip(want.data()).enumerate() {
        assert_close(&format!("{context}[{i}]"), g, w);
    }
}

type LossFn = for<'t> fn(Var<'t, f64>, &[usize], usize, &Value) -> Result<Var<'t, f64>, LossError>;

/// Runs `loss` on every case of that name: the value and the gradient with
/// respect to the record.
fn check_loss(name: &str, loss: LossFn) {
    for case in cases("loss", Some(name)) {
        let context = describe(&case);
        let num_steps = usize_of(&case, "num_steps");
        let tape = Tape::new();
        let record = tape.leaf(stacked(&case, "input"));

        let value = loss(record, &targets(&case), num_steps, &case).unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_close(&format!("{context}: value"), value.item(), case["value"].as_f64().expect("value"));

        let grads = value.backward();
        let grad = grads.get(record).unwrap_or_else(|| panic!("{context}: no gradient for the record"));
        assert_all_close(&format!("{context}: grad"), grad, &stacked(&case, "grad"));
    }
}

#[test]
fn ce_rate_loss_matches() {
    check_loss("ce_rate_loss", |x, y, steps, _| ce_rate_loss(x, y, steps));
}

#[test]
fn ce_count_loss_matches() {
    check_loss("ce_count_loss", |x, y, steps, _| ce_count_loss(x, y, steps));
}

#[test]
fn ce_max_membrane_loss_matches() {
    check_loss("ce_max_membrane_loss", |x, y, steps, _| ce_max_membrane_loss(x, y, steps));
}

#[test]
fn mse_count_loss_matches() {
    check_loss("mse_count_loss", |x, y, steps, case| {
        let rates = MseCountTargets {
            correct_rate: option_f64(case, "correct_rate", 1.0),
            incorrect_rate: option_f64(case, "incorrect_rate", 0.0),
        };
        mse_count_loss(x, y, steps, &rates)
    });
}

#[test]
fn mse_membrane_loss_matches() {
    check_loss("mse_membrane_loss", |x, y, steps, case| {
        let membranes = MseMembraneTargets {
            on_target: option_f64(case, "on_target", 1.0),
            off_target: option_f64(case, "off_target", 0.0),
        };
        mse_membrane_loss(x, y, steps, &membranes)
    });
}

#[test]
fn accuracy_rate_matches() {
    for case in cases("accuracy", None) {
        let spikes = stacked(&case, "input");
        let accuracy = accuracy_rate(&spikes, &targets(&case), usize_of(&case, "num_steps")).unwrap();
        assert_close(&describe(&case), accuracy, case["value"].as_f64().expect("value"));
    }
}

fn latency_options(case: &Value) -> LatencyOptions {
    let default = LatencyOptions::default();
    LatencyOptions {
        threshold: option_f64(case, "threshold", default.threshold),
        tau: option_f64(case, "tau", default.tau),
        first_spike_time: option_f64(case, "first_spike_time", 0.0) as usize,
        on_target: option_f64(case, "on_target", default.on_target),
        off_target: option_f64(case, "off_target", default.off_target),
        clip: option_bool(case, "clip"),
        normalize: option_bool(case, "normalize"),
        linear: option_bool(case, "linear"),
        epsilon: default.epsilon,
    }
}

#[test]
fn latency_code_matches() {
    for case in cases("latency", None) {
        let context = format!("latency with options {}", case["options"]);
        let times = latency_code(&array(&case, "data"), usize_of(&case, "num_steps"), &latency_options(&case)).unwrap();
        assert_all_close(&context, &times, &array(&case, "spike_time"));
    }
}

#[test]
fn latency_spikes_match() {
    for case in cases("latency", None) {
        let context = format!("latency with options {}", case["options"]);
        let spikes = latency(&array(&case, "data"), usize_of(&case, "num_steps"), &latency_options(&case)).unwrap();
        let want = stacked(&case, "spikes");
        assert_eq!(spikes.shape(), want.shape(), "{context}: shapes differ");
        for (i, (g, w)) in spikes.data().iter().zip(want.data()).enumerate() {
            assert_eq!(g, w, "{context}: element {i} differs");
        }
    }
}

//! Runs a reference case through the engine in f64 and prints what the
//! engine computes, under the case file's own keys.
//!
//! ```text
//! cargo run --release -p snn --example reference -- CASE.json           # print JSON
//! cargo run --release -p snn --example reference -- CASE.json --check   # compare
//! ```
//!
//! A case file, such as `tests/fixtures/golden_tiny_fixed_beta.json` or one
//! written by `tools/snntorch-reference/generate.py`, gives the inputs of a
//! Tutorial 5 network. These are `W1`, `b1`, `W2`, `b2` in PyTorch's
//! `[out, in]` layout, the images `x` `[batch, inputs]`, the class labels
//! `targets`, and `config`. The config gives `num_steps`, `beta`,
//! `threshold`, `reset_mechanism` (`subtract`, `zero` or `none`),
//! `learn_beta` and `optimizer` (`lr`, `betas`, `eps`, and optionally
//! `param_order`). Every array is
//! `{"shape": [...], "data": [...]}`, flat and row-major.
//!
//! Without `--check`, it prints a JSON object to stdout with `cur1`, `spk1`,
//! `mem1`, `cur2`, `spk2`, `mem2` (`[num_steps, batch, neurons]`),
//! `step_losses`, `loss`, `grad_W1`, `grad_b1`, `grad_W2`, `grad_b2` (and
//! `grad_beta1`, `grad_beta2` when beta is learnable), the parameters after
//! one Adam step (`W1_after` ... `beta2_after`), and `adam_trajectory`: the
//! loss before each of `adam_trajectory.steps` Adam steps on the same batch
//! (3 when the case does not say), the loss after the last one, and the
//! parameters then.
//!
//! With `--check`, it compares each of those values with the one stored in
//! the case, prints the largest difference per key, and exits with status 1
//! when any value is off by more than `1e-12 + 1e-9 * |reference|` or a
//! spike differs.
//!
//! Invalid input (a missing file, invalid JSON, a missing key, a wrong shape
//! or an out-of-range label) prints an error that names the file and the key
//! and exits with status 2.

use std::process::ExitCode;

use autodiff::{Tape, Tensor, Var};
use serde_json::{Map, Value, json};
use snn::loss::membrane_cross_entropy;
use snn::net::StepRecord;
use snn::{Adam, Leaky, Linear, Net, Reset, eval_step, train_step};

/// Adam steps of the trajectory when the case does not give
/// `adam_trajectory.steps`.
const DEFAULT_TRAJECTORY_STEPS: usize = 3;
/// Tolerance of `--check`: `|ours - reference| <= ATOL + RTOL * |reference|`.
const RTOL: f64 = 1e-9;
const ATOL: f64 = 1e-12;

const USAGE: &str = "usage: reference CASE.json [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, check) = match args.as_slice() {
        [path] if !path.starts_with('-') => (path.as_str(), false),
        [path, flag] if flag == "--check" => (path.as_str(), true),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("error: invalid arguments {args:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let result = CaseFile::read(path).and_then(|case| Ok((run(&case)?, case)));
    let (ours, case) = match result {
        Ok(done) => done,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    if check {
        if compare(&case, &ours) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&ours).expect("JSON values serialize")
        );
        ExitCode::SUCCESS
    }
}

// ---------------------------------------------------------------------------
// Reading the case

/// A parsed case file. Every accessor returns an error naming the file and
/// the key.
struct CaseFile {
    path: String,
    json: Value,
}

/// A flat, row-major array with its shape.
struct Array {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl CaseFile {
    fn read(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("failed to read case file {path}: {e}"))?;
        let json = serde_json::from_str(&text)
            .map_err(|e| format!("{path} is not valid JSON: {e}"))?;
        Ok(Self {
            path: path.to_string(),
            json,
        })
    }

    fn error(&self, key: &[&str], problem: &str) -> String {
        format!("{}: key {} {problem}", self.path, key.join("."))
    }

    fn get(&self, key: &[&str]) -> Result<&Value, String> {
        let mut value = &self.json;
        for (depth, part) in key.iter().enumerate() {
            value = value.get(part).ok_or_else(|| {
                format!(
                    "{}: missing key {}",
                    self.path,
                    key[..=depth].join(".")
                )
            })?;
        }
        Ok(value)
    }

    fn has(&self, key: &[&str]) -> bool {
        self.get(key).is_ok()
    }

    /// Reads a number, given bare or as an array of shape `[]`.
    fn number(&self, key: &[&str]) -> Result<f64, String> {
        let value = self.get(key)?;
        let number = match value.get("data") {
            Some(data) => data.get(0),
            None => Some(value),
        };
        number
            .and_then(Value::as_f64)
            .ok_or_else(|| self.error(key, "is not a number"))
    }

    /// Reads a positive whole number.
    fn count(&self, key: &[&str]) -> Result<usize, String> {
        let value = self.get(key)?;
        match value.as_u64() {
            Some(n) if n > 0 => Ok(n as usize),
            _ => Err(self.error(
                key,
                &format!("is {value}, expected a positive integer"),
            )),
        }
    }

    fn boolean(&self, key: &[&str]) -> Result<bool, String> {
        self.get(key)?
            .as_bool()
            .ok_or_else(|| self.error(key, "is not true or false"))
    }

    fn array(&self, key: &[&str]) -> Result<Array, String> {
        let value = self.get(key)?;
        let shape = value
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| self.error(key, "has no \"shape\" array"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                self.error(key, "has a shape that is not a list of sizes")
            })?;
        let data = value
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| self.error(key, "has no \"data\" array"))?
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                self.error(key, "has a value in \"data\" that is not a number")
            })?;
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(self.error(key, &format!("has shape {shape:?}, which needs {expected} values, but {} are given", data.len())));
        }
        Ok(Array { shape, data })
    }

    /// An array that must have `shape`.
    fn array_of_shape(
        &self,
        key: &str,
        shape: &[usize],
    ) -> Result<Tensor<f64>, String> {
        let array = self.array(&[key])?;
        if array.shape != shape {
            return Err(self.error(
                &[key],
                &format!("has shape {:?}, expected {shape:?}", array.shape),
            ));
        }
        Ok(Tensor::from_vec(array.data, shape))
    }

    /// Reads a 2-D array: its tensor, rows and columns.
    fn matrix(&self, key: &str) -> Result<(Tensor<f64>, usize, usize), String> {
        let array = self.array(&[key])?;
        match array.shape[..] {
            [rows, cols] => {
                Ok((Tensor::from_vec(array.data, &[rows, cols]), rows, cols))
            }
            _ => Err(self.error(
                &[key],
                &format!("has shape {:?}, expected 2 dimensions", array.shape),
            )),
        }
    }
}

/// The network, the images and the labels of a case.
struct Inputs {
    net: Net<f64>,
    x: Tensor<f64>,
    labels: Vec<usize>,
}

fn read_inputs(case: &CaseFile) -> Result<Inputs, String> {
    if !case.has(&["W1"]) && case.has(&["mem"]) {
        return Err(format!(
            "{}: this is a surrogate case (spike and gradient values at given membranes), not a network \
             case; this program reads network cases, which hold W1, b1, W2, b2, x and targets",
            case.path
        ));
    }
    let (w1, hidden, inputs) = case.matrix("W1")?;
    let b1 = case.array_of_shape("b1", &[hidden])?;
    let (w2, outputs, w2_inputs) = case.matrix("W2")?;
    if w2_inputs != hidden {
        return Err(case.error(&["W2"], &format!("has {w2_inputs} columns, but W1 has {hidden} rows (hidden neurons)")));
    }
    let b2 = case.array_of_shape("b2", &[outputs])?;
    let (x, batch, x_inputs) = case.matrix("x")?;
    if x_inputs != inputs {
        return Err(case.error(
            &["x"],
            &format!("has {x_inputs} columns, but W1 has {inputs} (inputs)"),
        ));
    }
    let labels = read_labels(case, batch, outputs)?;

    let reset = match case.get(&["config", "reset_mechanism"])?.as_str() {
        Some("subtract") => Reset::Subtract,
        Some("zero") => Reset::Zero,
        Some("none") => Reset::None,
        _ => {
            return Err(case.error(
                &["config", "reset_mechanism"],
                "is not \"subtract\", \"zero\" or \"none\"",
            ));
        }
    };
    let leaky = Leaky::new(case.number(&["config", "beta"])?)
        .with_threshold(case.number(&["config", "threshold"])?)
        .with_reset(reset)
        .with_learn_beta(case.boolean(&["config", "learn_beta"])?);
    let net = Net {
        fc1: Linear::from_parameters(w1, b1),
        lif1: leaky.clone(),
        fc2: Linear::from_parameters(w2, b2),
        lif2: leaky,
        num_steps: case.count(&["config", "num_steps"])?,
    };
    check_param_order(case, &net)?;
    Ok(Inputs { net, x, labels })
}

/// Reads the labels `targets`: `batch` whole numbers in `[0, outputs)`.
fn read_labels(
    case: &CaseFile,
    batch: usize,
    outputs: usize,
) -> Result<Vec<usize>, String> {
    let targets = case.array(&["targets"])?;
    if targets.shape != [batch] {
        return Err(case.error(
            &["targets"],
            &format!(
                "has shape {:?}, expected [{batch}], one label per row of x",
                targets.shape
            ),
        ));
    }
    targets
        .data
        .iter()
        .enumerate()
        .map(|(i, &label)| {
            if label >= 0.0 && label.fract() == 0.0 && label < outputs as f64 {
                Ok(label as usize)
            } else {
                Err(case.error(&["targets"], &format!("has label {label} at index {i}; labels must be whole numbers in [0, {outputs})")))
            }
        })
        .collect()
}

/// When the case gives `config.optimizer.param_order`, it must be the
/// engine's order, because Adam's state is matched by position.
fn check_param_order(case: &CaseFile, net: &Net<f64>) -> Result<(), String> {
    let key = ["config", "optimizer", "param_order"];
    if !case.has(&key) {
        return Ok(());
    }
    let order: Vec<String> = case
        .get(&key)?
        .as_array()
        .ok_or_else(|| case.error(&key, "is not a list"))?
        .iter()
        .map(|v| v.as_str().unwrap_or("?").to_string())
        .collect();
    let ours: Vec<String> =
        net.parameters().into_iter().map(|(name, _)| name).collect();
    if order != ours {
        return Err(case.error(
            &key,
            &format!("is {order:?}, but this network trains {ours:?}"),
        ));
    }
    Ok(())
}

fn read_adam(case: &CaseFile) -> Result<Adam<f64>, String> {
    let mut adam = Adam::new(case.number(&["config", "optimizer", "lr"])?);
    let key = ["config", "optimizer", "betas"];
    adam.betas = match case
        .get(&key)?
        .as_array()
        .map(|b| b.iter().map(Value::as_f64).collect::<Vec<_>>())
        .as_deref()
    {
        Some([Some(beta1), Some(beta2)]) => (*beta1, *beta2),
        _ => return Err(case.error(&key, "is not a list of two numbers")),
    };
    adam.eps = case.number(&["config", "optimizer", "eps"])?;
    Ok(adam)
}

// ---------------------------------------------------------------------------
// Running the engine

/// `{"shape": [...], "data": [...]}`.
fn array_json(shape: &[usize], data: Vec<f64>) -> Value {
    json!({ "shape": shape, "data": data })
}

fn tensor_json(tensor: &Tensor<f64>) -> Value {
    array_json(tensor.shape(), tensor.to_f64_vec())
}

/// Returns the key of a parameter in a case file, from its PyTorch name.
fn short_name(parameter: &str) -> String {
    match parameter {
        "fc1.weight" => "W1".to_string(),
        "fc1.bias" => "b1".to_string(),
        "fc2.weight" => "W2".to_string(),
        "fc2.bias" => "b2".to_string(),
        "lif1.beta" => "beta1".to_string(),
        "lif2.beta" => "beta2".to_string(),
        other => other.replace('.', "_"),
    }
}

/// Computes every value of the case with the engine, as a JSON object under
/// the case's keys.
fn run(case: &CaseFile) -> Result<Value, String> {
    let Inputs { net, x, labels } = read_inputs(case)?;
    let mut out = Map::new();
    if let Some(name) = case.json.get("case") {
        out.insert("case".to_string(), name.clone());
    }

    forward_and_gradients(&net, &x, &labels, &mut out);

    let mut stepped = net.clone();
    let mut adam = read_adam(case)?;
    train_step(&mut stepped, &mut adam, x.clone(), &labels)
        .map_err(|e| format!("{}: {e}", case.path))?;
    for (name, tensor) in stepped.parameters() {
        out.insert(format!("{}_after", short_name(&name)), tensor_json(tensor));
    }

    let steps = if case.has(&["adam_trajectory", "steps"]) {
        case.count(&["adam_trajectory", "steps"])?
    } else {
        DEFAULT_TRAJECTORY_STEPS
    };
    let trajectory =
        adam_trajectory(&net, read_adam(case)?, &x, &labels, steps)
            .map_err(|e| format!("{}: {e}", case.path))?;
    out.insert("adam_trajectory".to_string(), trajectory);
    Ok(Value::Object(out))
}

/// Computes the per-step records, the losses and the gradients on one tape.
fn forward_and_gradients(
    net: &Net<f64>,
    x: &Tensor<f64>,
    labels: &[usize],
    out: &mut Map<String, Value>,
) {
    let tape = Tape::new();
    let vars = net.register(&tape);
    let records = net.forward(&vars, tape.constant(x.clone()));

    out.insert("cur1".to_string(), stack(&records, |r| r.cur1));
    out.insert("spk1".to_string(), stack(&records, |r| r.spk1));
    out.insert("mem1".to_string(), stack(&records, |r| r.mem1));
    out.insert("cur2".to_string(), stack(&records, |r| r.cur2));
    out.insert("spk2".to_string(), stack(&records, |r| r.spk2));
    out.insert("mem2".to_string(), stack(&records, |r| r.mem2));

    // The labels were checked when the case was read.
    let mem2: Vec<_> = records.iter().map(|r| r.mem2).collect();
    let step_losses: Vec<f64> = mem2
        .iter()
        .map(|m| m.cross_entropy(labels).expect("labels are checked").item())
        .collect();
    out.insert(
        "step_losses".to_string(),
        array_json(&[records.len()], step_losses),
    );
    let loss =
        membrane_cross_entropy(&mem2, labels).expect("labels are checked");
    out.insert("loss".to_string(), json!(loss.item()));

    let grads = loss.backward();
    for ((name, _), var) in
        net.parameters().into_iter().zip(net.parameter_vars(&vars))
    {
        out.insert(
            format!("grad_{}", short_name(&name)),
            tensor_json(&grads.get_or_zeros(var)),
        );
    }
}

/// Stacks one value of every step: `[num_steps, batch, neurons]`.
fn stack<'t>(
    records: &[StepRecord<'t, f64>],
    pick: impl Fn(&StepRecord<'t, f64>) -> Var<'t, f64>,
) -> Value {
    let shape = pick(&records[0]).shape();
    let data: Vec<f64> = records
        .iter()
        .flat_map(|r| pick(r).value().to_f64_vec())
        .collect();
    array_json(&[records.len(), shape[0], shape[1]], data)
}

/// `steps` Adam steps on the same batch with one optimizer state.
fn adam_trajectory(
    net: &Net<f64>,
    mut adam: Adam<f64>,
    x: &Tensor<f64>,
    labels: &[usize],
    steps: usize,
) -> Result<Value, snn::TrainError> {
    let mut net = net.clone();
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        losses.push(train_step(&mut net, &mut adam, x.clone(), labels)?.loss);
    }
    let after = eval_step(&net, x, labels)?.loss;

    let mut out = Map::new();
    out.insert("steps".to_string(), json!(steps));
    out.insert(
        "losses_before_each_step".to_string(),
        array_json(&[steps], losses),
    );
    out.insert("loss_after_last_step".to_string(), json!(after));
    for (name, tensor) in net.parameters() {
        out.insert(short_name(&name), tensor_json(tensor));
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------
// --check

/// Collects every numeric leaf of `value` under `prefix`, flattened: each
/// array's data, each bare number.
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Vec<f64>)>) {
    match value {
        Value::Number(n) => {
            out.push((prefix.to_string(), vec![n.as_f64().unwrap_or(f64::NAN)]))
        }
        Value::Object(map) if map.contains_key("data") => {
            let data = map["data"].as_array().map(|d| {
                d.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect()
            });
            out.push((prefix.to_string(), data.unwrap_or_default()));
        }
        Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&name, value, out);
            }
        }
        _ => {}
    }
}

/// Prints the largest difference per key between the engine and the case,
/// and returns whether every value is within tolerance and every spike is
/// equal.
fn compare(case: &CaseFile, ours: &Value) -> bool {
    let mut ours_flat = Vec::new();
    leaves("", ours, &mut ours_flat);

    let mut all_pass = true;
    for (key, ours) in ours_flat {
        let path: Vec<&str> = key.split('.').collect();
        let Ok(reference) = case.get(&path) else {
            println!("{key:40} not in the case, skipped");
            continue;
        };
        let mut reference_flat = Vec::new();
        leaves("", reference, &mut reference_flat);
        let reference = reference_flat
            .into_iter()
            .next()
            .map(|(_, data)| data)
            .unwrap_or_default();
        if reference.len() != ours.len() {
            println!(
                "{key:40} FAIL: {} values, the case has {}",
                ours.len(),
                reference.len()
            );
            all_pass = false;
            continue;
        }

        let exact = key.starts_with("spk") || key == "adam_trajectory.steps";
        let mut max_difference = 0.0_f64;
        let mut pass = true;
        for (&a, &b) in ours.iter().zip(&reference) {
            let difference = (a - b).abs();
            let allowed = if exact { 0.0 } else { ATOL + RTOL * b.abs() };
            pass &= difference <= allowed;
            max_difference = if difference.is_nan() || max_difference.is_nan() {
                f64::NAN
            } else {
                max_difference.max(difference)
            };
        }
        println!(
            "{key:40} max |difference| {max_difference:.3e}  {}",
            if pass { "ok" } else { "FAIL" }
        );
        all_pass &= pass;
    }
    println!(
        "{}",
        if all_pass {
            "all values agree"
        } else {
            "some values differ"
        }
    );
    all_pass
}

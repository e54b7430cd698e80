//! The losses and the accuracy of snnTorch's `snntorch.functional`, on the
//! tape, so that they train.
//!
//! Semantics and defaults follow snnTorch 1.0's `snntorch/functional/loss.py`,
//! `snntorch/functional/acc.py` and the target rule of `targets_convert` in
//! `snntorch/spikegen.py`.
//!
//! # Layout
//!
//! snnTorch passes spikes or membranes recorded over time as
//! `[num_steps, batch, classes]`. Here a record is one 2-D [`Var`] stacked
//! by step, `[num_steps * batch, classes]`, the rows of step 0 first: the
//! layout of the fused forward pass (`Net::forward_fused`). Per-step
//! values (`Net::forward`) become one record with [`stack_steps`].
//! `num_steps` is passed explicitly, and `targets` contains one class label
//! per sample.
//!
//! # The losses
//!
//! With `x[t]` the record at step `t` (`[batch, classes]`), `T = num_steps`,
//! `CE` PyTorch's cross-entropy averaged over the batch and `MSE` the mean
//! squared error over all elements:
//!
//! | function | value |
//! |---|---|
//! | [`ce_rate_loss`] | `sum_t CE(x[t], y) / T` |
//! | [`ce_count_loss`] | `CE(sum_t x[t], y)` |
//! | [`ce_max_membrane_loss`] | `CE(max_t x[t], y)` |
//! | [`mse_count_loss`] | `MSE(sum_t x[t], target) / T` |
//! | [`mse_membrane_loss`] | `sum_t MSE(x[t], target) / T` |
//!
//! Every CE applies the softmax itself (pass raw spikes or membranes).
//! [`accuracy_rate`] is the fraction of samples whose rate-decoded class
//! ([`crate::decode::rate`]) equals the label.
//!
//! NOTE: snnTorch's `population_code`, `num_classes`, `weight` and
//! `reduction="none"` options are not ported: every loss here is the
//! batch mean without class weights, one output neuron per class.
//!
//! # Example
//!
//! ```
//! use autodiff::{Tape, Tensor};
//! use snn::functional::ce_rate_loss;
//!
//! // Two steps of one sample with two classes: [2 * 1, 2].
//! let tape = Tape::new();
//! let spk_out = tape.leaf(Tensor::<f64>::from_vec(vec![1.0, 0.0, 1.0, 0.0], &[2, 2]));
//! let loss = ce_rate_loss(spk_out, &[0], 2).unwrap();
//! // Both steps favour class 0 with logits [1, 0]: CE = ln(1 + e^-1).
//! assert!((loss.item() - (1.0 + (-1.0_f64).exp()).ln()).abs() < 1e-15);
//! let grads = loss.backward();
//! assert_eq!(grads.get(spk_out).unwrap().shape(), &[2, 2]);
//! ```

use std::fmt;

use autodiff::{Float, Function, Tensor, Var};

use crate::decode::{self, RecordShapeError, check_step_shapes, record_dims};

/// A loss input that does not fit: a record of the wrong shape, targets
/// that do not match it, or an invalid parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum LossError {
    /// The record cannot be split into `num_steps` steps.
    Shape(RecordShapeError),
    /// The number of targets differs from the batch size of the record.
    TargetCount { targets: usize, batch: usize, num_steps: usize },
    /// A target that is not a class index of the record.
    TargetOutOfRange { index: usize, target: usize, classes: usize },
    /// A rate or target value outside its valid range.
    Parameter { name: &'static str, value: f64, expected: &'static str },
}

impl fmt::Display for LossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape(err) => err.fmt(f),
            Self::TargetCount { targets, batch, num_steps } => write!(
                f,
                "got {targets} targets for a record of {num_steps} steps of {batch} samples: \
                 give one class label per sample"
            ),
            Self::TargetOutOfRange { index, target, classes } => write!(
                f,
                "target {target} at position {index} is out of range: class labels must be in [0, {classes}) \
                 for {classes} output neurons; check the labels or the number of outputs"
            ),
            Self::Parameter { name, value, expected } => {
                write!(f, "{name} = {value} is invalid: expected {expected}")
            }
        }
    }
}

impl std::error::Error for LossError {}

impl From<RecordShapeError> for LossError {
    fn from(err: RecordShapeError) -> Self {
        Self::Shape(err)
    }
}

/// Checks a record shape against `num_steps` and the targets against its
/// batch and classes; returns `(batch, classes)`.
fn check_record(shape: &[usize], targets: &[usize], num_steps: usize) -> Result<(usize, usize), LossError> {
    let (batch, classes) = record_dims(shape, num_steps)?;
    if targets.len() != batch {
        return Err(LossError::TargetCount { targets: targets.len(), batch, num_steps });
    }
    if let Some(index) = targets.iter().position(|&target| target >= classes) {
        return Err(LossError::TargetOutOfRange { index, target: targets[index], classes });
    }
    Ok((batch, classes))
}

// ---------------------------------------------------------------------------
// Reductions over the steps of a record

/// Sums a record `[num_steps * batch, classes]` over the steps to
/// `[batch, classes]`.
struct SumSteps {
    num_steps: usize,
}

impl<F: Float> Function<F> for SumSteps {
    fn name(&self) -> &'static str {
        "sum_steps"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let (batch, classes) = split_steps("sum_steps", inputs[0], self.num_steps);
        decode::sum_steps(inputs[0], self.num_steps, batch, classes)
    }

    // d(sum_t x[t])/dx[s] = 1, so every step receives the whole gradient.
    fn backward(&self, _: &[&Tensor<F>], output: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (batch, classes) = output.dims2("sum_steps backward");
        let mut tiled = Vec::with_capacity(self.num_steps * grad.len());
        for _ in 0..self.num_steps {
            tiled.extend_from_slice(grad.data());
        }
        vec![Some(Tensor::from_vec(tiled, &[self.num_steps * batch, classes]))]
    }
}

/// The maximum of a record `[num_steps * batch, classes]` over the steps,
/// `[batch, classes]`. Forward saves the step that attained each maximum:
/// the first one on ties, as `torch.max` along an axis returns it. A NaN
/// is the maximum, as in `torch.max`.
struct MaxSteps {
    num_steps: usize,
    argmax: Vec<usize>,
}

impl<F: Float> Function<F> for MaxSteps {
    fn name(&self) -> &'static str {
        "max_steps"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let (batch, classes) = split_steps("max_steps", inputs[0], self.num_steps);
        let step_len = batch * classes;
        let data = inputs[0].data();
        let mut max = data[..step_len].to_vec();
        self.argmax = vec![0; step_len];

        for step in 1..self.num_steps {
            for (i, &x) in data[step * step_len..(step + 1) * step_len].iter().enumerate() {
                if replaces_max(x, max[i]) {
                    max[i] = x;
                    self.argmax[i] = step;
                }
            }
        }
        Tensor::from_vec(max, &[batch, classes])
    }

    // d(max_t x[t])/dx[s] = 1 at the saved step s, 0 at the others.
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        let step_len = grad.len();
        let mut dx = Tensor::zeros(inputs[0].shape());
        let out = dx.data_mut();
        for (i, (&step, &g)) in self.argmax.iter().zip(grad.data()).enumerate() {
            out[step * step_len + i] = g;
        }
        vec![Some(dx)]
    }
}

/// Returns whether `x` replaces the running maximum `max`: only when
/// strictly larger, so the first of equal values stays, or when `x` is the
/// first NaN.
fn replaces_max<F: Float>(x: F, max: F) -> bool {
    let is_nan = |v: F| v.partial_cmp(&v).is_none();
    x > max || (is_nan(x) && !is_nan(max))
}

/// `(batch, classes)` of a record already checked by the caller.
///
/// # Panics
/// When the record is not 2-D or its rows are not a multiple of
/// `num_steps`.
fn split_steps<F: Float>(op: &str, record: &Tensor<F>, num_steps: usize) -> (usize, usize) {
    let (rows, classes) = record.dims2(op);
    assert!(
        num_steps > 0 && rows % num_steps == 0,
        "{op}: shape {:?} does not split into {num_steps} steps",
        record.shape()
    );
    (rows / num_steps, classes)
}

/// Concatenates per-step values `[batch, classes]` along the rows into a
/// record `[num_steps * batch, classes]`.
struct StackSteps;

impl<F: Float> Function<F> for StackSteps {
    fn name(&self) -> &'static str {
        "stack_steps"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let (batch, classes) = inputs[0].dims2("stack_steps");
        let mut data = Vec::with_capacity(inputs.len() * batch * classes);
        for step in inputs {
            assert!(
                step.shape() == inputs[0].shape(),
                "stack_steps: shape mismatch, {:?} vs {:?}",
                inputs[0].shape(),
                step.shape()
            );
            data.extend_from_slice(step.data());
        }
        Tensor::from_vec(data, &[inputs.len() * batch, classes])
    }

    // Each step's gradient is its own block of rows of the record's gradient.
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let step_len = inputs[0].len();
        let block = |step: usize| grad.data()[step * step_len..(step + 1) * step_len].to_vec();
        needs
            .iter()
            .enumerate()
            .map(|(step, &needed)| needed.then(|| Tensor::from_vec(block(step), inputs[0].shape())))
            .collect()
    }
}

/// Stacks per-step values `[batch, classes]`, such as the `mem2` of each
/// [`crate::net::StepRecord`], into one record `[num_steps * batch,
/// classes]`, step 0's rows first. Gradients flow back to every step.
///
/// # Errors
/// [`RecordShapeError::NoSteps`] for an empty slice, and
/// [`RecordShapeError::StepShape`] when the steps differ in shape or are
/// not 2-D.
pub fn stack_steps<'t, F: Float>(steps: &[Var<'t, F>]) -> Result<Var<'t, F>, RecordShapeError> {
    let shapes: Vec<Vec<usize>> = steps.iter().map(Var::shape).collect();
    let shape_refs: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
    check_step_shapes(&shape_refs)?;
    Ok(steps[0].tape().apply(StackSteps, steps))
}

/// Sums a record `[num_steps * batch, classes]` over the steps, giving
/// `[batch, classes]` (the spike count when the record contains spikes).
///
/// # Errors
/// When the record's shape does not fit `num_steps`.
pub fn sum_steps<'t, F: Float>(record: Var<'t, F>, num_steps: usize) -> Result<Var<'t, F>, RecordShapeError> {
    record_dims(&record.shape(), num_steps)?;
    Ok(record.apply(SumSteps { num_steps }))
}

/// Takes the maximum of a record `[num_steps * batch, classes]` over the
/// steps, giving `[batch, classes]`. The gradient flows to the step that attained
/// each maximum, the first one on ties, as with `torch.max` along an axis.
///
/// # Errors
/// When the record's shape does not fit `num_steps`.
pub fn max_steps<'t, F: Float>(record: Var<'t, F>, num_steps: usize) -> Result<Var<'t, F>, RecordShapeError> {
    record_dims(&record.shape(), num_steps)?;
    Ok(record.apply(MaxSteps { num_steps, argmax: Vec::new() }))
}

// ---------------------------------------------------------------------------
// Cross-entropy losses

/// snnTorch's `ce_rate_loss`: the cross-entropy of each step's output
/// (spikes or membranes, as logits) against the targets, averaged over the
/// batch, summed over the steps and divided by `num_steps`.
///
/// The gradient with respect to `spk_out` is `(softmax(x[t]) -
/// onehot(y)) / (batch * num_steps)` at every step.
///
/// # Errors
/// A [`LossError`] when `spk_out` is not `[num_steps * batch, classes]`, the
/// target count differs from `batch` or a target is not a class index.
pub fn ce_rate_loss<'t, F: Float>(spk_out: Var<'t, F>, targets: &[usize], num_steps: usize) -> Result<Var<'t, F>, LossError> {
    let (batch, _) = check_record(&spk_out.shape(), targets, num_steps)?;

    // The mean over all num_steps * batch rows is the sum over steps of
    // each step's batch mean, divided by num_steps.
    let repeated: Vec<usize> = targets.iter().copied().cycle().take(num_steps * batch).collect();
    Ok(spk_out.cross_entropy(&repeated).expect("ce_rate_loss: targets were checked"))
}

/// snnTorch's `ce_count_loss`: the cross-entropy of the spike counts (the
/// record summed over the steps, as logits) against the targets, averaged
/// over the batch.
///
/// # Errors
/// A [`LossError`] when `spk_out` is not `[num_steps * batch, classes]`, the
/// target count differs from `batch` or a target is not a class index.
pub fn ce_count_loss<'t, F: Float>(spk_out: Var<'t, F>, targets: &[usize], num_steps: usize) -> Result<Var<'t, F>, LossError> {
    check_record(&spk_out.shape(), targets, num_steps)?;
    let counts = spk_out.apply(SumSteps { num_steps });
    Ok(counts.cross_entropy(targets).expect("ce_count_loss: targets were checked"))
}

/// snnTorch's `ce_max_membrane_loss`: the cross-entropy of each output
/// neuron's largest membrane over the steps (as logits) against the
/// targets, averaged over the batch. The gradient reaches only the step of
/// each maximum, the first one on ties.
///
/// # Errors
/// A [`LossError`] when `mem_out` is not `[num_steps * batch, classes]`, the
/// target count differs from `batch` or a target is not a class index.
pub fn ce_max_membrane_loss<'t, F: Float>(
    mem_out: Var<'t, F>,
    targets: &[usize],
    num_steps: usize,
) -> Result<Var<'t, F>, LossError> {
    check_record(&mem_out.shape(), targets, num_steps)?;
    let max = mem_out.apply(MaxSteps { num_steps, argmax: Vec::new() });
    Ok(max.cross_entropy(targets).expect("ce_max_membrane_loss: targets were checked"))
}

// ---------------------------------------------------------------------------
// Mean squared error losses

/// The target firing rates of [`mse_count_loss`], as fractions of the steps.
/// The defaults are snnTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MseCountTargets {
    /// Firing rate of the correct class: `1.0` requests a spike at every
    /// step. Default 1.0.
    pub correct_rate: f64,
    /// Firing rate of every other class: `0.0` requests silence. Default 0.0.
    pub incorrect_rate: f64,
}

impl Default for MseCountTargets {
    fn default() -> Self {
        Self { correct_rate: 1.0, incorrect_rate: 0.0 }
    }
}

/// The target membranes of [`mse_membrane_loss`]. The defaults are
/// snnTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MseMembraneTargets {
    /// Target membrane of the correct class. Default 1.0.
    pub on_target: f64,
    /// Target membrane of every other class. Default 0.0.
    ///
    /// When `on_target > off_target`, snnTorch 1.0 floors this target at 0
    /// (`targets_convert` clamps the scaled one-hot code from below at
    /// `off_target`, and the other classes' code is 0), so `off_target =
    /// -0.5` trains toward 0. This port keeps that rule so that its values
    /// equal snnTorch's.
    pub off_target: f64,
}

impl Default for MseMembraneTargets {
    fn default() -> Self {
        Self { on_target: 1.0, off_target: 0.0 }
    }
}

/// Returns the target of the correct class and of the other classes, as
/// snnTorch's `targets_convert` sets them with its default rates: `(on, max(off, 0))` when
/// `on > off`, else `(on, off)`.
fn class_targets(on_target: f64, off_target: f64) -> (f64, f64) {
    if on_target > off_target { (on_target, off_target.max(0.0)) } else { (on_target, off_target) }
}

/// Builds a `[batch, classes]` tensor with `on` at each sample's target
/// class and `off` elsewhere, repeated `repeats` times along the rows.
fn target_tensor<F: Float>(targets: &[usize], classes: usize, on: f64, off: f64, repeats: usize) -> Tensor<F> {
    let mut one_step = vec![F::from_f64(off); targets.len() * classes];
    for (row, &target) in one_step.chunks_exact_mut(classes).zip(targets) {
        row[target] = F::from_f64(on);
    }
    let data: Vec<F> = one_step.iter().copied().cycle().take(repeats * one_step.len()).collect();
    Tensor::from_vec(data, &[repeats * targets.len(), classes])
}

/// Checks that `value` is a finite number in `[0, 1]`.
fn check_rate(name: &'static str, value: f64) -> Result<(), LossError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(LossError::Parameter { name, value, expected: "a firing rate in [0, 1], as a fraction of the time steps" })
    }
}

/// snnTorch's `mse_count_loss`: the mean squared error between each
/// neuron's spike count and its target count, over the batch and the
/// classes, divided by `num_steps`.
///
/// The target count is `floor(num_steps * correct_rate)` for the correct
/// class and `floor(num_steps * incorrect_rate)` for the others (snnTorch
/// truncates with `int()`, so 25 steps at rate 0.3 ask for 7 spikes).
///
/// # Errors
/// A [`LossError`] when `spk_out` is not `[num_steps * batch, classes]`, the
/// target count differs from `batch`, a target is not a class index, or a
/// rate is not in `[0, 1]`.
pub fn mse_count_loss<'t, F: Float>(
    spk_out: Var<'t, F>,
    targets: &[usize],
    num_steps: usize,
    rates: &MseCountTargets,
) -> Result<Var<'t, F>, LossError> {
    let (_, classes) = check_record(&spk_out.shape(), targets, num_steps)?;
    check_rate("correct_rate", rates.correct_rate)?;
    check_rate("incorrect_rate", rates.incorrect_rate)?;

    let on_count = (num_steps as f64 * rates.correct_rate).trunc();
    let off_count = (num_steps as f64 * rates.incorrect_rate).trunc();
    let (on, off) = class_targets(on_count, off_count);
    let target = spk_out.tape().constant(target_tensor(targets, classes, on, off, 1));

    let counts = spk_out.apply(SumSteps { num_steps });
    let error = counts.sub(target);
    Ok(error.mul(error).mean().scale(F::from_f64(1.0 / num_steps as f64)))
}

/// snnTorch's `mse_membrane_loss`: the mean squared error between each
/// step's membrane and the target membrane, over the batch and the
/// classes, summed over the steps and divided by `num_steps`.
///
/// The targets are the same at every step. See
/// [`MseMembraneTargets::off_target`] for snnTorch's rule on a negative
/// `off_target`.
///
/// NOTE: snnTorch's `time_var_targets=True` is not ported: in snnTorch 1.0
/// that path fails for class-label targets of shape `[num_steps, batch]`
/// (`to_one_hot` rejects a 2-D label tensor).
///
/// # Errors
/// A [`LossError`] when `mem_out` is not `[num_steps * batch, classes]`, the
/// target count differs from `batch`, a target is not a class index, or a
/// target membrane is not finite.
pub fn mse_membrane_loss<'t, F: Float>(
    mem_out: Var<'t, F>,
    targets: &[usize],
    num_steps: usize,
    membranes: &MseMembraneTargets,
) -> Result<Var<'t, F>, LossError> {
    let (_, classes) = check_record(&mem_out.shape(), targets, num_steps)?;
    for (name, value) in [("on_target", membranes.on_target), ("off_target", membranes.off_target)] {
        if !value.is_finite() {
            return Err(LossError::Parameter { name, value, expected: "a finite membrane potential" });
        }
    }

    let (on, off) = class_targets(membranes.on_target, membranes.off_target);
    let target = mem_out.tape().constant(target_tensor(targets, classes, on, off, num_steps));

    // The mean over all steps, samples and classes is the sum over steps of
    // each step's mean, divided by num_steps.
    let error = mem_out.sub(target);
    Ok(error.mul(error).mean())
}

// ---------------------------------------------------------------------------
// Accuracy

/// snnTorch's `accuracy_rate`: the fraction of samples whose rate-decoded
/// class (the most output spikes, ties to the lowest class index) equals
/// the target.
///
/// # Errors
/// A [`LossError`] when `spk_out` is not `[num_steps * batch, classes]`, the
/// target count differs from `batch` or a target is not a class index.
pub fn accuracy_rate<F: Float>(spk_out: &Tensor<F>, targets: &[usize], num_steps: usize) -> Result<f64, LossError> {
    let (batch, _) = check_record(spk_out.shape(), targets, num_steps)?;
    let predictions = decode::rate(spk_out, num_steps)?;
    let correct = predictions.iter().zip(targets).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / batch as f64)
}

#[cfg(test)]
mod tests {
    use autodiff::Tape;

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-14 + 1e-12 * b.abs()
    }

    fn assert_all_close(label: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{label}: lengths differ");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(close(*g, *w), "{label}[{i}]: {g} vs {w}");
        }
    }

    /// Two steps of one sample with two classes, logits [a, b] per step.
    fn two_steps(tape: &Tape<f64>, data: [f64; 4]) -> Var<'_, f64> {
        tape.leaf(Tensor::from_vec(data.to_vec(), &[2, 2]))
    }

    #[test]
    fn ce_rate_loss_by_hand() {
        let tape = Tape::new();
        let x = two_steps(&tape, [0.0, 0.0, 2.0_f64.ln(), 0.0]);
        let loss = ce_rate_loss(x, &[0], 2).unwrap();
        // Step 0: p = [1/2, 1/2]; step 1: p = [2/3, 1/3]. Sum of -ln p[0] over 2.
        assert!(close(loss.item(), (2.0_f64.ln() + 1.5_f64.ln()) / 2.0));
        // (p - onehot) / (batch * num_steps)
        let grad = loss.backward().get(x).unwrap().to_f64_vec();
        assert_all_close("grad", &grad, &[-0.25, 0.25, -1.0 / 6.0, 1.0 / 6.0]);
    }

    #[test]
    fn ce_count_loss_by_hand() {
        let tape = Tape::new();
        let x = two_steps(&tape, [1.0, 0.0, 1.0, 1.0]);
        let loss = ce_count_loss(x, &[1], 2).unwrap();
        // Counts [2, 1]: p = [e / (e + 1), 1 / (e + 1)], loss = -ln p[1] = ln(e + 1).
        let e = 1.0_f64.exp();
        assert!(close(loss.item(), (e + 1.0).ln()));
        // Both steps get p - onehot = [e / (e + 1), -e / (e + 1)].
        let g = e / (e + 1.0);
        let grad = loss.backward().get(x).unwrap().to_f64_vec();
        assert_all_close("grad", &grad, &[g, -g, g, -g]);
    }

    #[test]
    fn ce_max_membrane_loss_by_hand() {
        let tape = Tape::new();
        // Class 0 peaks at step 1 (0.5), class 1 at step 0 (0.5): a tie
        // between the classes, so p = [1/2, 1/2].
        let x = two_steps(&tape, [0.1, 0.5, 0.5, -2.0]);
        let loss = ce_max_membrane_loss(x, &[0], 2).unwrap();
        assert!(close(loss.item(), 2.0_f64.ln()));
        // Only the step of each maximum gets p - onehot = [-1/2, 1/2].
        let grad = loss.backward().get(x).unwrap().to_f64_vec();
        assert_all_close("grad", &grad, &[0.0, 0.5, -0.5, 0.0]);
    }

    #[test]
    fn max_steps_gradient_goes_to_first_tie() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f64>::from_vec(vec![2.0, 2.0, 1.0], &[3, 1]));
        let max = max_steps(x, 3).unwrap();
        assert_eq!(max.value().data(), &[2.0]);
        assert_eq!(max.sum().backward().get(x).unwrap().data(), &[1.0, 0.0, 0.0]);
    }

    #[test]
    fn max_steps_propagates_nan() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f64>::from_vec(vec![1.0, f64::NAN, 3.0], &[3, 1]));
        assert!(max_steps(x, 3).unwrap().item().is_nan());
    }

    #[test]
    fn mse_count_loss_by_hand() {
        let tape = Tape::new();
        // Four steps, one sample, two classes; counts [3, 1].
        let x = tape.leaf(Tensor::<f64>::from_vec(vec![1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], &[4, 2]));
        let rates = MseCountTargets { correct_rate: 0.6, incorrect_rate: 0.3 };
        let loss = mse_count_loss(x, &[0], 4, &rates).unwrap();
        // Targets: trunc(4 * 0.6) = 2 and trunc(4 * 0.3) = 1, errors [1, 0].
        // Mean of squares over 2 classes, over 4 steps: (1 + 0) / 2 / 4.
        assert!(close(loss.item(), 0.125));
        // d/dx[t] = 2 error / (classes * num_steps) = [2/8, 0] at each step.
        let grad = loss.backward().get(x).unwrap().to_f64_vec();
        assert_all_close("grad", &grad, &[0.25, 0.0, 0.25, 0.0, 0.25, 0.0, 0.25, 0.0]);
    }

    #[test]
    fn mse_count_default_targets() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f64>::zeros(&[3, 2]));
        // Silent output: errors [-3, 0] against targets [3, 0]; 9 / 2 / 3.
        let loss = mse_count_loss(x, &[0], 3, &MseCountTargets::default()).unwrap();
        assert!(close(loss.item(), 1.5));
    }

    #[test]
    fn mse_membrane_loss_by_hand() {
        let tape = Tape::new();
        let x = two_steps(&tape, [1.0, 0.5, 0.0, 0.0]);
        let loss = mse_membrane_loss(x, &[0], 2, &MseMembraneTargets::default()).unwrap();
        // Targets [1, 0]. Step 0 errors [0, 0.5], step 1 errors [-1, 0].
        // (0.25 / 2 + 1 / 2) / 2
        assert!(close(loss.item(), 0.3125));
        // 2 error / (classes * num_steps)
        let grad = loss.backward().get(x).unwrap().to_f64_vec();
        assert_all_close("grad", &grad, &[0.0, 0.25, -0.5, 0.0]);
    }

    #[test]
    fn negative_off_target_floors_at_zero() {
        assert_eq!(class_targets(1.0, -0.5), (1.0, 0.0));
        assert_eq!(class_targets(0.2, 0.9), (0.2, 0.9));
        assert_eq!(class_targets(-1.0, -0.5), (-1.0, -0.5));
    }

    #[test]
    fn stack_steps_matches_stacked_record() {
        let tape = Tape::new();
        let step0 = tape.leaf(Tensor::<f64>::from_vec(vec![0.0, 0.0], &[1, 2]));
        let step1 = tape.leaf(Tensor::<f64>::from_vec(vec![2.0_f64.ln(), 0.0], &[1, 2]));
        let record = stack_steps(&[step0, step1]).unwrap();
        assert_eq!(record.shape(), vec![2, 2]);
        let grads = ce_rate_loss(record, &[0], 2).unwrap().backward();
        assert_all_close("step 0", &grads.get(step0).unwrap().to_f64_vec(), &[-0.25, 0.25]);
        assert_all_close("step 1", &grads.get(step1).unwrap().to_f64_vec(), &[-1.0 / 6.0, 1.0 / 6.0]);
    }

    #[test]
    fn accuracy_rate_by_hand() {
        // Two steps, three samples, two classes. Counts: [2, 0], [1, 1], [0, 0].
        #[rustfmt::skip]
        let spikes = Tensor::<f64>::from_vec(vec![
            1.0, 0.0,   1.0, 0.0,   0.0, 0.0,
            1.0, 0.0,   0.0, 1.0,   0.0, 0.0,
        ], &[6, 2]);
        // Predictions [0, 0, 0]: the tie and the silent sample go to class 0.
        assert!(close(accuracy_rate(&spikes, &[0, 1, 0], 2).unwrap(), 2.0 / 3.0));
    }

    #[test]
    fn wrong_inputs_are_errors() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f64>::zeros(&[6, 3]));
        let err = ce_rate_loss(x, &[0, 1], 2).err().unwrap();
        assert_eq!(err, LossError::TargetCount { targets: 2, batch: 3, num_steps: 2 });
        assert!(err.to_string().contains("got 2 targets"), "{err}");

        let err = ce_count_loss(x, &[0, 3, 1], 2).err().unwrap();
        assert_eq!(err, LossError::TargetOutOfRange { index: 1, target: 3, classes: 3 });
        assert!(err.to_string().contains("target 3 at position 1"), "{err}");

        let err = ce_max_membrane_loss(x, &[0, 1], 4).err().unwrap();
        assert_eq!(err, LossError::Shape(RecordShapeError::Steps { shape: vec![6, 3], num_steps: 4 }));

        let rates = MseCountTargets { correct_rate: 1.5, incorrect_rate: 0.0 };
        let err = mse_count_loss(x, &[0, 1, 2], 2, &rates).err().unwrap();
        assert!(err.to_string().contains("correct_rate = 1.5 is invalid"), "{err}");

        let membranes = MseMembraneTargets { on_target: f64::NAN, off_target: 0.0 };
        assert!(mse_membrane_loss(x, &[0, 1, 2], 2, &membranes).is_err());
        assert!(accuracy_rate(&Tensor::<f64>::zeros(&[6, 3]), &[0, 1, 2], 0).is_err());
    }
}

//! Softmax, log-softmax and the fused cross-entropy, over the last axis.
//!
//! All three subtract each row's maximum before `exp`, so logits of any
//! finite size give finite results.

use std::fmt;

use crate::{Float, Function, Tensor, Var};

/// Splits a tensor into rows along its last axis.
fn rows<F: Float>(op: &str, x: &Tensor<F>) -> usize {
    match x.shape().last() {
        Some(&cols) if cols > 0 => cols,
        _ => panic!("{op}: needs at least one axis of non-zero length, got shape {:?}", x.shape()),
    }
}

/// Returns the row's maximum and `log(sum(exp(row - max)))`, whose sum is
/// `log(sum(exp(row)))`.
///
/// Callers compute `(v - max) - log_sum`, never `v - (max + log_sum)`: the
/// sum `max + log_sum` would be rounded at the size of the logits, which is
/// an error of 1e-3 in f32 near 1e4.
fn max_and_log_sum<F: Float>(row: &[F]) -> (F, F) {
    let max = row.iter().copied().fold(row[0], F::max);
    let sum: F = row.iter().map(|&v| (v - max).exp()).sum();
    (max, sum.ln())
}

fn softmax_tensor<F: Float>(op: &str, x: &Tensor<F>) -> Tensor<F> {
    let cols = rows(op, x);
    let mut y = x.clone();
    for row in y.data_mut().chunks_exact_mut(cols) {
        let (max, log_sum) = max_and_log_sum(row);
        for v in row.iter_mut() {
            *v = ((*v - max) - log_sum).exp();
        }
    }
    y
}

struct Softmax;

impl<F: Float> Function<F> for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        softmax_tensor("softmax", inputs[0])
    }

    // dx_i = y_i (g_i - sum_j g_j y_j), row by row
    fn backward(&self, _: &[&Tensor<F>], y: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        let cols = rows("softmax backward", y);
        let mut dx = grad.clone();
        for (d, y) in dx.data_mut().chunks_exact_mut(cols).zip(y.data().chunks_exact(cols)) {
            let dot: F = d.iter().zip(y).map(|(&g, &y)| g * y).sum();
            for (d, &y) in d.iter_mut().zip(y) {
                *d = y * (*d - dot);
            }
        }
        vec![Some(dx)]
    }
}

struct LogSoftmax;

impl<F: Float> Function<F> for LogSoftmax {
    fn name(&self) -> &'static str {
        "log_softmax"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let cols = rows("log_softmax", inputs[0]);
        let mut y = inputs[0].clone();
        for row in y.data_mut().chunks_exact_mut(cols) {
            let (max, log_sum) = max_and_log_sum(row);
            for v in row.iter_mut() {
                *v = (*v - max) - log_sum;
            }
        }
        y
    }

    // y = x - lse(x), so dx_i = g_i - softmax_i * sum_j g_j, with softmax = exp(y)
    fn backward(&self, _: &[&Tensor<F>], y: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        let cols = rows("log_softmax backward", y);
        let mut dx = grad.clone();
        for (d, y) in dx.data_mut().chunks_exact_mut(cols).zip(y.data().chunks_exact(cols)) {
            let total: F = d.iter().copied().sum();
            for (d, &y) in d.iter_mut().zip(y) {
                *d -= y.exp() * total;
            }
        }
        vec![Some(dx)]
    }
}

/// A class label that cross-entropy cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// A label outside `[0, classes)`.
    OutOfRange { index: usize, label: usize, classes: usize },
    /// One label per row is needed.
    CountMismatch { labels: usize, rows: usize },
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { index, label, classes } => write!(
                f,
                "class label {label} at position {index} is out of range: labels must be in [0, {classes}) \
                 for {classes} output classes; check the label file or the number of outputs"
            ),
            Self::CountMismatch { labels, rows } => write!(
                f,
                "got {labels} class labels for {rows} rows of logits: give exactly one label per row"
            ),
        }
    }
}

impl std::error::Error for LabelError {}

/// Checks that there is one label per row and each is in `[0, classes)`.
pub fn check_labels(labels: &[usize], rows: usize, classes: usize) -> Result<(), LabelError> {
    if labels.len() != rows {
        return Err(LabelError::CountMismatch { labels: labels.len(), rows });
    }
    match labels.iter().position(|&label| label >= classes) {
        Some(index) => Err(LabelError::OutOfRange { index, label: labels[index], classes }),
        None => Ok(()),
    }
}

/// The mean over the batch of `-log softmax(logits)[label]`, without a tape.
///
/// # Panics
/// When a label is out of range: callers check labels first with
/// [`check_labels`].
pub fn cross_entropy_value<F: Float>(logits: &Tensor<F>, labels: &[usize]) -> F {
    let (batch, classes) = logits.dims2("cross_entropy");
    assert_eq!(labels.len(), batch, "cross_entropy: {} labels for logits of shape {:?}", labels.len(), logits.shape());
    let mut total = F::ZERO;
    for (row, &label) in logits.data().chunks_exact(classes).zip(labels) {
        let (max, log_sum) = max_and_log_sum(row);
        total += log_sum - (row[label] - max);
    }
    total / F::from_f64(batch as f64)
}

/// Cross-entropy of logits `[batch, classes]` against integer labels, the
/// mean over the batch. The softmax is applied inside: pass raw logits.
struct CrossEntropy {
    labels: Vec<usize>,
}

// ANCHOR: cross_entropy
impl<F: Float> Function<F> for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        Tensor::scalar(cross_entropy_value(inputs[0], &self.labels))
    }

    // dlogits = g (softmax(logits) - onehot(label)) / batch
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (batch, classes) = inputs[0].dims2("cross_entropy backward");
        let mut dx = softmax_tensor("cross_entropy backward", inputs[0]);
        let scale = grad.item() / F::from_f64(batch as f64);
        for (row, &label) in dx.data_mut().chunks_exact_mut(classes).zip(&self.labels) {
            row[label] -= F::ONE;
            for v in row.iter_mut() {
                *v *= scale;
            }
        }
        vec![Some(dx)]
    }
}
// ANCHOR_END: cross_entropy

impl<'t, F: Float> Var<'t, F> {
    /// The softmax of each row (the last axis).
    pub fn softmax(self) -> Self {
        self.apply(Softmax)
    }

    /// The logarithm of the softmax of each row, computed stably.
    pub fn log_softmax(self) -> Self {
        self.apply(LogSoftmax)
    }

    /// Cross-entropy of these logits `[batch, classes]` against `labels`,
    /// averaged over the batch, as one fused op. It applies the softmax
    /// itself, so pass raw logits (here, the output membrane).
    ///
    /// # Errors
    /// A [`LabelError`] when the label count differs from the batch or a
    /// label is not in `[0, classes)`; nothing is recorded then.
    pub fn cross_entropy(self, labels: &[usize]) -> Result<Self, LabelError> {
        let (batch, classes) = self.value().dims2("cross_entropy");
        check_labels(labels, batch, classes)?;
        Ok(self.apply(CrossEntropy { labels: labels.to_vec() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    #[test]
    fn cross_entropy_by_hand() {
        let tape = Tape::new();
        let logits = tape.leaf(Tensor::<f64>::from_vec(vec![0.0, 0.0, 2.0_f64.ln(), 0.0], &[2, 2]));
        let loss = logits.cross_entropy(&[0, 0]).unwrap();
        // Row 0: p = [1/2, 1/2], -ln(1/2); row 1: p = [2/3, 1/3], -ln(2/3).
        let expected = (2.0_f64.ln() + 1.5_f64.ln()) / 2.0;
        assert!(close(loss.item(), expected));
        // d/dlogits = (p - onehot) / batch
        let grad = loss.backward().get(logits).unwrap().to_f64_vec();
        let want = [-0.25, 0.25, -1.0 / 6.0, 1.0 / 6.0];
        for (g, w) in grad.iter().zip(want) {
            assert!(close(*g, w), "{grad:?} vs {want:?}");
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_at_huge_logits() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f32>::from_vec(vec![1e4, -1e4, 0.0, 1e4, 1e4, 1e4], &[2, 3]));
        let y = x.softmax().value();
        assert!(y.data().iter().all(|v| v.is_finite()));
        assert_eq!(&y.data()[..3], &[1.0, 0.0, 0.0]);
        let loss = x.cross_entropy(&[1, 2]).unwrap();
        assert!(loss.item().is_finite());
        assert!(loss.backward().get(x).unwrap().data().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn log_softmax_backward_by_hand() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f64>::from_vec(vec![0.0, 0.0], &[1, 2]));
        // L = log_softmax(x)[0]; dL/dx = onehot(0) - softmax(x) = [1/2, -1/2]
        let picked = x.log_softmax().mul(tape.constant(Tensor::from_vec(vec![1.0, 0.0], &[1, 2]))).sum();
        assert!(close(picked.item(), -(2.0_f64.ln())));
        assert_eq!(picked.backward().get(x).unwrap().data(), &[0.5, -0.5]);
    }

    #[test]
    fn label_out_of_range_is_an_error() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f32>::zeros(&[2, 10]));
        let err = x.cross_entropy(&[3, 10]).err().unwrap();
        assert_eq!(err, LabelError::OutOfRange { index: 1, label: 10, classes: 10 });
        assert!(err.to_string().contains("class label 10"));
    }

    #[test]
    fn label_count_must_match_batch() {
        let tape = Tape::new();
        let x = tape.leaf(Tensor::<f32>::zeros(&[2, 10]));
        assert_eq!(x.cross_entropy(&[1]).err(), Some(LabelError::CountMismatch { labels: 1, rows: 2 }));
    }
}

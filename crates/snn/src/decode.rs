//! Reading a class out of the output spikes: rate decoding and latency
//! decoding.
//!
//! A record over time is stacked by step: `[num_steps * batch, classes]`,
//! the `batch` rows of step 0 first, then those of step 1, and so on. This
//! is snnTorch's `[num_steps, batch, classes]` with the first two axes
//! merged, and the layout of the fused forward pass. [`stack_steps`] builds
//! it from one tensor per step.
//!
//! Two rules return a class for every sample, so that every sample counts
//! in an accuracy:
//! - [`rate`]: the class with the most spikes, ties to the lowest class
//!   index as `torch.max` does. A silent sample is therefore class 0. This
//!   is the rule of snnTorch Tutorial 5 and of every reported accuracy
//!   ([`crate::loss::rate_predictions`], which [`rate`] calls).
//! - [`latency`]: the class whose neuron fired first, ties to the lowest
//!   class index. A neuron that never fires counts as firing at `num_steps`,
//!   one step after the last, so a silent sample is class 0 here too.
//!
//! [`rate_or_none`] and [`latency_or_none`] return `None` for a sample with
//! no output spike at all, for a caller that wants to count silent outputs
//! apart. They change no reported accuracy.

use std::fmt;

use autodiff::{Float, Tensor};

use crate::loss::rate_predictions;

/// A record over time whose shape does not fit the layout
/// `[num_steps * batch, classes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordShapeError {
    /// `num_steps` is 0, the record is not 2-D, is empty, or its rows are
    /// not a multiple of `num_steps`.
    Steps { shape: Vec<usize>, num_steps: usize },
    /// No per-step tensor was given.
    NoSteps,
    /// The per-step tensor at `step` has another shape than step 0's.
    StepShape { step: usize, shape: Vec<usize>, first: Vec<usize> },
}

impl fmt::Display for RecordShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Steps { shape, num_steps } => write!(
                f,
                "a record of shape {shape:?} cannot be split into num_steps = {num_steps} time steps: \
                 give a non-empty 2-D record [num_steps * batch, classes] with the rows of step 0 first, \
                 and num_steps >= 1"
            ),
            Self::NoSteps => write!(f, "no time steps were given: pass at least one per-step tensor"),
            Self::StepShape { step, shape, first } => write!(
                f,
                "the tensor of step {step} has shape {shape:?}, but step 0 has {first:?}: \
                 every step must have the same [batch, classes] shape"
            ),
        }
    }
}

impl std::error::Error for RecordShapeError {}

/// Returns the batch size and the number of classes of a stacked record, or
/// an error when its shape does not fit `num_steps`.
pub fn record_dims(shape: &[usize], num_steps: usize) -> Result<(usize, usize), RecordShapeError> {
    match *shape {
        [rows, classes] if num_steps > 0 && rows > 0 && classes > 0 && rows % num_steps == 0 => {
            Ok((rows / num_steps, classes))
        }
        _ => Err(RecordShapeError::Steps { shape: shape.to_vec(), num_steps }),
    }
}

/// Stacks one `[batch, classes]` tensor per step into a record
/// `[num_steps * batch, classes]`, step 0's rows first.
///
/// # Errors
/// [`RecordShapeError::NoSteps`] for an empty slice, and
/// [`RecordShapeError::StepShape`] when the steps differ in shape or are
/// not 2-D.
pub fn stack_steps<F: Float>(steps: &[Tensor<F>]) -> Result<Tensor<F>, RecordShapeError> {
    let shapes: Vec<&[usize]> = steps.iter().map(Tensor::shape).collect();
    let (batch, classes) = check_step_shapes(&shapes)?;

    let mut data = Vec::with_capacity(steps.len() * batch * classes);
    for step in steps {
        data.extend_from_slice(step.data());
    }
    Ok(Tensor::from_vec(data, &[steps.len() * batch, classes]))
}

/// Checks that there is at least one step and that every step has step 0's
/// 2-D shape; returns that shape.
pub(crate) fn check_step_shapes(shapes: &[&[usize]]) -> Result<(usize, usize), RecordShapeError> {
    let first = *shapes.first().ok_or(RecordShapeError::NoSteps)?;
    for (step, &shape) in shapes.iter().enumerate() {
        if shape != first || shape.len() != 2 {
            return Err(RecordShapeError::StepShape { step, shape: shape.to_vec(), first: first.to_vec() });
        }
    }
    Ok((first[0], first[1]))
}

/// Sums the spikes of each sample and class over the steps, giving
/// `[batch, classes]`.
///
/// # Errors
/// When the shape of `spk_out` does not fit `num_steps`.
pub fn spike_counts<F: Float>(spk_out: &Tensor<F>, num_steps: usize) -> Result<Tensor<F>, RecordShapeError> {
    let (batch, classes) = record_dims(spk_out.shape(), num_steps)?;
    Ok(sum_steps(spk_out, num_steps, batch, classes))
}

/// Sums `[num_steps * batch, classes]` over the steps; the shape is
/// already checked.
pub(crate) fn sum_steps<F: Float>(record: &Tensor<F>, num_steps: usize, batch: usize, classes: usize) -> Tensor<F> {
    let mut counts = Tensor::zeros(&[batch, classes]);
    for step in record.data().chunks_exact(batch * classes).take(num_steps) {
        for (count, &spike) in counts.data_mut().iter_mut().zip(step) {
            *count += spike;
        }
    }
    counts
}

/// Rate decoding: the class with the most output spikes. Ties go to the
/// lowest class index, as `torch.max` does, so a sample with no output
/// spike is class 0.
///
/// This is the rule of every reported accuracy: it calls
/// [`crate::loss::rate_predictions`] on the spike counts.
///
/// # Errors
/// When the shape of `spk_out` does not fit `num_steps`.
pub fn rate<F: Float>(spk_out: &Tensor<F>, num_steps: usize) -> Result<Vec<usize>, RecordShapeError> {
    Ok(rate_predictions(&spike_counts(spk_out, num_steps)?))
}

/// Rate decoding that returns `None` for a sample whose output neurons
/// never spiked, where [`rate`] would return class 0. Ties between classes
/// that did spike still go to the lowest class index.
///
/// # Errors
/// When the shape of `spk_out` does not fit `num_steps`.
pub fn rate_or_none<F: Float>(spk_out: &Tensor<F>, num_steps: usize) -> Result<Vec<Option<usize>>, RecordShapeError> {
    let counts = spike_counts(spk_out, num_steps)?;
    let classes = counts.shape()[1];
    let predictions = rate_predictions(&counts);
    let decided = counts
        .data()
        .chunks_exact(classes)
        .zip(predictions)
        .map(|(row, class)| row.iter().any(|&count| count != F::ZERO).then_some(class))
        .collect();
    Ok(decided)
}

/// Returns the step at which each output neuron first spiked, one row per
/// sample and one entry per class, or `num_steps` for a neuron that never
/// spiked.
/// Any non-zero value counts as a spike.
///
/// # Errors
/// When the shape of `spk_out` does not fit `num_steps`.
pub fn first_spike_times<F: Float>(spk_out: &Tensor<F>, num_steps: usize) -> Result<Vec<Vec<usize>>, RecordShapeError> {
    let (batch, classes) = record_dims(spk_out.shape(), num_steps)?;
    let mut times = vec![vec![num_steps; classes]; batch];

    // Walk the steps backwards, so the last write for each neuron is its
    // earliest spike.
    for (step, spikes) in spk_out.data().chunks_exact(batch * classes).enumerate().rev() {
        for (sample_times, row) in times.iter_mut().zip(spikes.chunks_exact(classes)) {
            for (time, &spike) in sample_times.iter_mut().zip(row) {
                if spike != F::ZERO {
                    *time = step;
                }
            }
        }
    }
    Ok(times)
}

/// Latency decoding: the class whose output neuron spiked first.
///
/// Simultaneous first spikes go to the lowest class index. A neuron that
/// never spikes counts as spiking at `num_steps`, one step after the last,
/// so it loses to any neuron that spiked and a silent sample is class 0.
///
/// NOTE: snnTorch 1.0's `accuracy_temporal` (snntorch/functional/acc.py)
/// puts a silent neuron at `num_steps - 1` instead, where it ties with a
/// neuron that spiked only at the last step and the lower index wins.
///
/// # Errors
/// When the shape of `spk_out` does not fit `num_steps`.
pub fn latency<F: Float>(spk_out: &Tensor<F>, num_steps: usize) -> Result<Vec<usize>, RecordShapeError> {
    let times = first_spike_times(spk_out, num_steps)?;
    Ok(times.iter().map(|sample| earliest_class(sample)).collect())
}

/// Latency decoding that returns `None` for a sample whose output neurons
/// never spiked, where [`latency`] would return class 0.
///
/// # Errors
/// When the shape of `spk_out` does not fit `num_steps`.
pub fn latency_or_none<F: Float>(spk_out: &Tensor<F>, num_steps: usize) -> Result<Vec<Option<usize>>, RecordShapeError> {
    let times = first_spike_times(spk_out, num_steps)?;
    let decided = times
        .iter()
        .map(|sample| sample.iter().any(|&time| time < num_steps).then(|| earliest_class(sample)))
        .collect();
    Ok(decided)
}

/// Returns the index of the smallest time, the lowest index on ties.
fn earliest_class(times: &[usize]) -> usize {
    let mut best = 0;
    for (class, &time) in times.iter().enumerate() {
        if time < times[best] {
            best = class;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps of two samples with three classes each.
    ///
    /// Sample 0: class 1 spikes at steps 1 and 2, class 2 at steps 0 and 2.
    /// Sample 1: no spike.
    fn record() -> Tensor<f64> {
        #[rustfmt::skip]
        let data = vec![
            // step 0
            0.0, 0.0, 1.0,
            0.0, 0.0, 0.0,
            // step 1
            0.0, 1.0, 0.0,
            0.0, 0.0, 0.0,
            // step 2
            0.0, 1.0, 1.0,
            0.0, 0.0, 0.0,
        ];
        Tensor::from_vec(data, &[6, 3])
    }

    #[test]
    fn spike_counts_sum_over_steps() {
        let counts = spike_counts(&record(), 3).unwrap();
        assert_eq!(counts.shape(), &[2, 3]);
        assert_eq!(counts.data(), &[0.0, 2.0, 2.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn rate_ties_go_to_lowest_class() {
        // Sample 0 ties classes 1 and 2 at two spikes; sample 1 is silent.
        assert_eq!(rate(&record(), 3).unwrap(), vec![1, 0]);
        assert_eq!(rate_or_none(&record(), 3).unwrap(), vec![Some(1), None]);
    }

    #[test]
    fn rate_matches_reported_rule() {
        let counts = spike_counts(&record(), 3).unwrap();
        assert_eq!(rate(&record(), 3).unwrap(), rate_predictions(&counts));
    }

    #[test]
    fn first_spike_times_by_hand() {
        let times = first_spike_times(&record(), 3).unwrap();
        // Class 0 of sample 0 and all of sample 1 never spike: time 3.
        assert_eq!(times, vec![vec![3, 1, 0], vec![3, 3, 3]]);
    }

    #[test]
    fn latency_picks_earliest_spike() {
        // Class 2 spiked at step 0, before class 1 with more spikes.
        assert_eq!(latency(&record(), 3).unwrap(), vec![2, 0]);
        assert_eq!(latency_or_none(&record(), 3).unwrap(), vec![Some(2), None]);
    }

    #[test]
    fn latency_ties_go_to_lowest_class() {
        // One sample, two steps: classes 1 and 2 both first spike at step 1.
        let spikes = Tensor::<f32>::from_vec(vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0], &[2, 3]);
        assert_eq!(latency(&spikes, 2).unwrap(), vec![1]);
    }

    #[test]
    fn spike_at_last_step_beats_silence() {
        // Class 1 spikes only at the last step; class 0 never does.
        let spikes = Tensor::<f32>::from_vec(vec![0.0, 0.0, 0.0, 1.0], &[2, 2]);
        assert_eq!(latency(&spikes, 2).unwrap(), vec![1]);
    }

    #[test]
    fn stack_steps_puts_step_zero_first() {
        let steps = [
            Tensor::<f64>::from_vec(vec![1.0, 2.0], &[1, 2]),
            Tensor::<f64>::from_vec(vec![3.0, 4.0], &[1, 2]),
        ];
        let stacked = stack_steps(&steps).unwrap();
        assert_eq!(stacked.shape(), &[2, 2]);
        assert_eq!(stacked.data(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn stack_steps_rejects_mismatched_steps() {
        let steps = [Tensor::<f64>::zeros(&[2, 3]), Tensor::<f64>::zeros(&[3, 3])];
        let err = stack_steps(&steps).unwrap_err();
        assert_eq!(err, RecordShapeError::StepShape { step: 1, shape: vec![3, 3], first: vec![2, 3] });
        assert!(err.to_string().contains("step 1 has shape [3, 3]"), "{err}");
        assert_eq!(stack_steps::<f64>(&[]).unwrap_err(), RecordShapeError::NoSteps);
    }

    #[test]
    fn record_not_divisible_by_steps_is_error() {
        let err = rate(&record(), 4).unwrap_err();
        assert_eq!(err, RecordShapeError::Steps { shape: vec![6, 3], num_steps: 4 });
        assert!(err.to_string().contains("num_steps = 4"), "{err}");
        assert!(rate(&record(), 0).is_err());
        assert!(latency(&Tensor::<f64>::zeros(&[6]), 3).is_err());
    }
}

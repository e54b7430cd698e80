//! The loss of Tutorial 5 and the two ways to read a prediction.

use autodiff::{Float, LabelError, Tensor, Var, ops::cross_entropy_value};

/// Cross-entropy with each step's output membrane as the logits, averaged
/// over the batch, summed over the steps.
///
/// # Errors
/// A [`LabelError`] when a label is not a valid class or the count differs
/// from the batch.
// ANCHOR: membrane_cross_entropy
pub fn membrane_cross_entropy<'t, F: Float>(mem2: &[Var<'t, F>], labels: &[usize]) -> Result<Var<'t, F>, LabelError> {
    let mut total: Option<Var<'t, F>> = None;
    for mem in mem2 {
        let step = mem.cross_entropy(labels)?;
        total = Some(match total {
            Some(sum) => sum.add(step),
            None => step,
        });
    }
    Ok(total.expect("membrane_cross_entropy: no time steps"))
}
// ANCHOR_END: membrane_cross_entropy

/// [`membrane_cross_entropy`] on the stacked membranes of all steps,
/// `[steps * batch, classes]`: the mean over all rows times the number of
/// steps is the sum over steps of each step's mean over the batch.
///
/// # Errors
/// A [`LabelError`] when a label is not a valid class or the count differs
/// from the batch.
pub fn stacked_cross_entropy<'t, F: Float>(mem2: Var<'t, F>, labels: &[usize], steps: usize) -> Result<Var<'t, F>, LabelError> {
    let repeated: Vec<usize> = (0..steps).flat_map(|_| labels.iter().copied()).collect();
    Ok(mem2.cross_entropy(&repeated)?.scale(F::from_f64(steps as f64)))
}

/// [`membrane_cross_entropy`] on plain tensors, for evaluation without a
/// tape. Labels must already be checked.
pub fn membrane_cross_entropy_value<F: Float>(mem2: &[Tensor<F>], labels: &[usize]) -> F {
    mem2.iter().map(|mem| cross_entropy_value(mem, labels)).sum()
}

/// The index of the largest value of each row; ties go to the lowest index,
/// as `torch.max` does.
// ANCHOR: argmax_rows
pub fn argmax_rows<F: Float>(values: &Tensor<F>) -> Vec<usize> {
    let (_, classes) = values.dims2("argmax_rows");
    values
        .data()
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}
// ANCHOR_END: argmax_rows

/// Rate decoding: the class whose output neuron spiked most. A tie goes to
/// the lowest class index, so a sample with no output spike is class 0.
pub fn rate_predictions<F: Float>(spike_counts: &Tensor<F>) -> Vec<usize> {
    argmax_rows(spike_counts)
}

/// The class with the largest output membrane summed over the steps.
pub fn membrane_predictions<F: Float>(membrane_sum: &Tensor<F>) -> Vec<usize> {
    argmax_rows(membrane_sum)
}

/// The number of predictions equal to their label.
pub fn count_correct(predictions: &[usize], labels: &[usize]) -> usize {
    predictions.iter().zip(labels).filter(|(p, l)| p == l).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lowest_class() {
        let counts = Tensor::<f32>::from_vec(vec![0.0, 3.0, 3.0, 1.0, 0.0, 0.0, 0.0, 0.0], &[2, 4]);
        assert_eq!(rate_predictions(&counts), vec![1, 0]);
    }

    #[test]
    fn count_correct_compares_positions() {
        assert_eq!(count_correct(&[1, 2, 3], &[1, 0, 3]), 2);
    }
}

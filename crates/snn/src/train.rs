//! One training step (forward, loss, backward, Adam) and one evaluation
//! step, shared by the program, the tests and the benches.

use std::fmt;

use autodiff::{Float, LabelError, Tape, Tensor, ops::softmax::check_labels};

use crate::fused::spikes_of;
use crate::loss::{membrane_cross_entropy, membrane_cross_entropy_value, stacked_cross_entropy};
use crate::parallel::run_tasks;
use crate::{Adam, Net};

/// The measurements of a training or evaluation step on its batch.
#[derive(Clone, Debug)]
pub struct StepOutput<F> {
    /// The summed cross-entropy loss, before the update.
    pub loss: F,
    /// Output spikes summed over the steps, `[batch, outputs]`.
    pub spike_counts: Tensor<F>,
    /// Output membrane summed over the steps, `[batch, outputs]`.
    pub membrane_sum: Tensor<F>,
}

/// The reason a training step did not update the parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    Label(LabelError),
    /// The loss, or its gradient with respect to a parameter, was NaN or
    /// infinite; the parameters were left unchanged. `loss` is finite when
    /// only the gradient was not (a NaN input pixel does that, because a
    /// NaN membrane never spikes).
    NonFiniteLoss { loss: f64 },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(err) => err.fmt(f),
            Self::NonFiniteLoss { loss } if loss.is_finite() => write!(
                f,
                "the loss is {loss} but its gradient contains NaN or infinity, so the parameters were not \
                 updated; check the input data for invalid values or lower the learning rate (--lr)"
            ),
            Self::NonFiniteLoss { loss } => write!(
                f,
                "the loss is {loss}, so the parameters were not updated; lower the learning rate (--lr) \
                 or check the input data for invalid values"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<LabelError> for TrainError {
    fn from(err: LabelError) -> Self {
        Self::Label(err)
    }
}

/// Trains `net` on one batch: a fresh tape, the forward pass over all time
/// steps with the fused ops, the summed membrane cross-entropy, backward,
/// and one Adam step.
///
/// `images` is `[batch, inputs]`; the images need no gradient, so none is
/// computed for them.
///
/// # Errors
/// A label that is not a valid class, or a non-finite loss or gradient. The
/// parameters are unchanged in every case.
pub fn train_step<F: Float>(net: &mut Net<F>, adam: &mut Adam<F>, images: Tensor<F>, labels: &[usize]) -> Result<StepOutput<F>, TrainError> {
    fused_train_step(net, adam, images, labels, false)
}

/// [`train_step`] for an input that changes from step to step, such as
/// spike-encoded images: `x_steps` is `[num_steps * batch, inputs]`, the
/// rows of step 0 first ([`crate::spikegen`] writes this layout).
///
/// # Errors
/// As [`train_step`].
pub fn train_step_encoded<F: Float>(
    net: &mut Net<F>,
    adam: &mut Adam<F>,
    x_steps: Tensor<F>,
    labels: &[usize],
) -> Result<StepOutput<F>, TrainError> {
    fused_train_step(net, adam, x_steps, labels, true)
}

fn fused_train_step<F: Float>(
    net: &mut Net<F>,
    adam: &mut Adam<F>,
    input: Tensor<F>,
    labels: &[usize],
    per_step: bool,
) -> Result<StepOutput<F>, TrainError> {
    let (rows, _) = input.dims2("train_step");
    let batch = if per_step { rows / net.num_steps } else { rows };
    check_labels(labels, batch, net.fc2.outputs())?;
    let pass = forward_backward(net, input, labels, per_step)?;
    adam.step(net.parameters_mut(), &pass.grads);
    Ok(pass.output)
}

/// The loss, the parameter gradients and the summed outputs of one batch.
struct Pass<F> {
    output: StepOutput<F>,
    grads: Vec<Tensor<F>>,
}

/// Forward and backward through the fused ops on a fresh tape, without
/// updating anything. Labels must already be checked.
fn forward_backward<F: Float>(net: &Net<F>, input: Tensor<F>, labels: &[usize], per_step: bool) -> Result<Pass<F>, TrainError> {
    let batch = labels.len();
    let tape = Tape::new();
    let vars = net.register(&tape);
    let x = tape.constant(input);
    let record = if per_step { net.forward_fused_steps(&vars, x) } else { net.forward_fused(&vars, x) };

    let loss = stacked_cross_entropy(record.mem2, labels, net.num_steps)?;
    let loss_value = loss.item();
    if !loss_value.is_finite() {
        return Err(TrainError::NonFiniteLoss { loss: loss_value.to_f64() });
    }

    let mut grads = loss.backward();
    let grads: Vec<Tensor<F>> =
        net.parameter_vars(&vars).into_iter().map(|v| grads.take(v).unwrap_or_else(|| Tensor::zeros(&v.shape()))).collect();
    if !all_finite(&grads) {
        return Err(TrainError::NonFiniteLoss { loss: loss_value.to_f64() });
    }
    let mem2 = record.mem2.value();
    let spikes = spikes_of(&mem2, &net.lif2.threshold);
    let outputs = net.fc2.outputs();
    let spike_counts = sum_steps(&spikes, batch, outputs);
    let membrane_sum = sum_steps(&mem2, batch, outputs);
    Ok(Pass { output: StepOutput { loss: loss_value, spike_counts, membrane_sum }, grads })
}

/// [`train_step`] with the batch split into `parts` slices whose forward
/// and backward passes run on separate threads; the gradients are then
/// combined and Adam takes one step.
///
/// Cross-entropy is a mean over the batch, so the batch's loss and
/// gradients are the slices' weighted by their share of the rows: the
/// same values as [`train_step`], summed in another order.
///
/// # Errors
/// As [`train_step`].
pub fn train_step_split<F: Float>(
    net: &mut Net<F>,
    adam: &mut Adam<F>,
    images: Tensor<F>,
    labels: &[usize],
    parts: usize,
) -> Result<StepOutput<F>, TrainError> {
    train_step_split_with(net, adam, images, labels, parts, |_, _| ()).map(|(output, _)| output)
}

/// [`train_step_split`] that also runs `side(net, i)` for `i` in
/// `0..parts` (`parts` capped at the batch size) on the same threads,
/// before the update: work that reads the
/// parameters as they were before this step, such as evaluating a test
/// batch in `parts` pieces. The threads then share all the work, and no
/// other thread competes with them for the cores. Returns the step's
/// output and what each `side` call returned, in order of `i`.
///
/// # Errors
/// As [`train_step`]. `side` does not run when a label is invalid.
pub fn train_step_split_with<F: Float, R: Send>(
    net: &mut Net<F>,
    adam: &mut Adam<F>,
    images: Tensor<F>,
    labels: &[usize],
    parts: usize,
    side: impl Fn(&Net<F>, usize) -> R + Sync,
) -> Result<(StepOutput<F>, Vec<R>), TrainError> {
    let (batch, inputs) = images.dims2("train_step_split");
    let parts = parts.clamp(1, batch.max(1));
    check_labels(labels, batch, net.fc2.outputs())?;

    // Contiguous slices of the rows whose sizes differ by at most one.
    let bounds: Vec<usize> = (0..=parts).map(|i| i * batch / parts).collect();
    let slice = |i: usize| {
        let rows = bounds[i]..bounds[i + 1];
        let data = images.data()[rows.start * inputs..rows.end * inputs].to_vec();
        (Tensor::from_vec(data, &[rows.len(), inputs]), &labels[rows])
    };
    // Tasks 0..parts train the slices and tasks parts..2 parts run `side`.
    // Each of `parts` threads takes the next free task, so when another
    // program slows one thread down, the other threads take its tasks.
    let shared: &Net<F> = net;
    let done = run_tasks(2 * parts, parts, |i| {
        if i < parts {
            let (x, y) = slice(i);
            Done::Pass(forward_backward(shared, x, y, false))
        } else {
            Done::Side(side(shared, i - parts))
        }
    });
    let (mut passes, mut side_results) = (Vec::with_capacity(parts), Vec::with_capacity(parts));
    for result in done {
        match result {
            Done::Pass(pass) => passes.push(pass),
            Done::Side(result) => side_results.push(result),
        }
    }

    let mut loss = F::ZERO;
    let mut weighted: Vec<(F, Vec<Tensor<F>>)> = Vec::with_capacity(parts);
    let outputs = net.fc2.outputs();
    let (mut spike_counts, mut membrane_sum) = (Vec::with_capacity(batch * outputs), Vec::with_capacity(batch * outputs));
    for (i, pass) in passes.into_iter().enumerate() {
        let pass = pass?;
        let share = if parts == 1 { F::ONE } else { F::from_f64((bounds[i + 1] - bounds[i]) as f64 / batch as f64) };
        loss += share * pass.output.loss;
        spike_counts.extend_from_slice(pass.output.spike_counts.data());
        membrane_sum.extend_from_slice(pass.output.membrane_sum.data());
        weighted.push((share, pass.grads));
    }
    // Adam sums the slices' gradients itself, each weighted by its share,
    // on as many threads as there are slices.
    let parts_view: Vec<(F, &[Tensor<F>])> = weighted.iter().map(|(w, g)| (*w, &g[..])).collect();
    adam.step_weighted(net.parameters_mut(), &parts_view, parts);
    let output = StepOutput {
        loss,
        spike_counts: Tensor::from_vec(spike_counts, &[batch, outputs]),
        membrane_sum: Tensor::from_vec(membrane_sum, &[batch, outputs]),
    };
    Ok((output, side_results))
}

/// The result of one task of [`train_step_split_with`].
enum Done<F, R> {
    Pass(Result<Pass<F>, TrainError>),
    Side(R),
}

/// Returns whether every gradient value is finite. Adam would write a NaN
/// or an infinity straight into the parameters.
fn all_finite<F: Float>(grads: &[Tensor<F>]) -> bool {
    // Within a block, `&` instead of an early exit lets the loop run in
    // vector registers; the fc1 weight gradient alone has 784,000 values.
    let block_finite = |block: &[F]| block.iter().fold(true, |finite, v| finite & v.is_finite());
    grads.iter().all(|g| g.data().chunks(4096).all(block_finite))
}

/// Adds the step blocks of a stacked `[steps * batch, width]` tensor.
fn sum_steps<F: Float>(stacked: &Tensor<F>, batch: usize, width: usize) -> Tensor<F> {
    let mut sum = Tensor::zeros(&[batch, width]);
    for block in stacked.data().chunks_exact(batch * width) {
        for (s, &v) in sum.data_mut().iter_mut().zip(block) {
            *s += v;
        }
    }
    sum
}

/// [`train_step`] with the network unrolled step by step on the tape
/// ([`Net::forward`]): five nodes per time step, the straightforward
/// reading of backpropagation through time. Slower; the same results.
///
/// # Errors
/// As [`train_step`].
pub fn train_step_unrolled<F: Float>(
    net: &mut Net<F>,
    adam: &mut Adam<F>,
    images: Tensor<F>,
    labels: &[usize],
) -> Result<StepOutput<F>, TrainError> {
    let tape = Tape::new();
    let vars = net.register(&tape);
    let records = net.forward(&vars, tape.constant(images));

    let mem2: Vec<_> = records.iter().map(|r| r.mem2).collect();
    let loss = membrane_cross_entropy(&mem2, labels)?;
    let loss_value = loss.item();
    if !loss_value.is_finite() {
        return Err(TrainError::NonFiniteLoss { loss: loss_value.to_f64() });
    }

    let mut grads = loss.backward();
    let param_grads: Vec<Tensor<F>> = net.parameter_vars(&vars).into_iter().map(|v| grads.take(v).unwrap_or_else(|| Tensor::zeros(&v.shape()))).collect();
    if !all_finite(&param_grads) {
        return Err(TrainError::NonFiniteLoss { loss: loss_value.to_f64() });
    }
    let (spike_counts, membrane_sum) = summed_outputs(&records);
    drop(records);

    adam.step(net.parameters_mut(), &param_grads);
    Ok(StepOutput { loss: loss_value, spike_counts, membrane_sum })
}

/// Output spikes and membranes of each recorded step, summed over time.
fn summed_outputs<F: Float>(records: &[crate::net::StepRecord<'_, F>]) -> (Tensor<F>, Tensor<F>) {
    let shape = records[0].spk2.shape();
    let mut spike_counts = Tensor::zeros(&shape);
    let mut membrane_sum = Tensor::zeros(&shape);
    for record in records {
        spike_counts.add_assign(&record.spk2.value());
        membrane_sum.add_assign(&record.mem2.value());
    }
    (spike_counts, membrane_sum)
}

/// Evaluates `net` on one batch without a tape: the same loss as training,
/// and the summed outputs for both accuracy rules.
///
/// # Errors
/// A label that is not a valid class.
pub fn eval_step<F: Float>(net: &Net<F>, images: &Tensor<F>, labels: &[usize]) -> Result<StepOutput<F>, LabelError> {
    let (batch, _) = images.dims2("eval_step");
    check_labels(labels, batch, net.fc2.outputs())?;
    Ok(output_of(net.infer(images), labels))
}

/// [`eval_step`] for an input that changes from step to step:
/// `x_steps` is `[num_steps * batch, inputs]`, the rows of step 0 first.
///
/// # Errors
/// A label that is not a valid class.
pub fn eval_step_encoded<F: Float>(net: &Net<F>, x_steps: &Tensor<F>, labels: &[usize]) -> Result<StepOutput<F>, LabelError> {
    let (rows, _) = x_steps.dims2("eval_step_encoded");
    check_labels(labels, rows / net.num_steps, net.fc2.outputs())?;
    Ok(output_of(net.infer_steps(x_steps), labels))
}

fn output_of<F: Float>(out: crate::net::Inference<F>, labels: &[usize]) -> StepOutput<F> {
    StepOutput {
        loss: membrane_cross_entropy_value(&out.mem2, labels),
        spike_counts: out.spike_counts,
        membrane_sum: out.membrane_sum,
    }
}

//! Fused ops for the whole unrolled network: each one covers every time
//! step of a layer, so the tape contains four nodes instead of five per step,
//! and the hot loops run over contiguous buffers.
//!
//! Layer 1 does not depend on layer 2, so all its steps can run first;
//! layer 2 then runs on the stacked hidden spikes, through one matrix
//! product for all steps. Rows of every stacked tensor are `[step 0: batch
//! rows, step 1: batch rows, ...]`, shape `[steps * batch, neurons]`. The results equal the step-by-step
//! network's ([`crate::Net::forward`]); the tests check that to 1e-12.

use autodiff::{Float, Function, PerColumn, Surrogate, Tensor};

use crate::{Reset, SpikeGrad};

/// The output [`LeakyRecurrence`] returns for every step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The spikes `H(U[t] - threshold)`, with the surrogate gradient.
    Spikes,
    /// The membranes `U[t]`, before their own spike's reset.
    Membrane,
}

/// The input current of [`LeakyRecurrence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Current {
    /// One `[batch, neurons]` current fed at every step (a static image).
    Static,
    /// A current per step, stacked `[steps * batch, neurons]`.
    PerStep,
}

/// A Leaky layer run over all steps from a zero membrane, as one op.
///
/// Inputs: the current, beta and threshold (each `[]` or `[neurons]`).
/// Output: `[steps * batch, neurons]`, spikes or membranes by `emit`. The
/// rules are [`crate::Leaky`]'s.
pub struct LeakyRecurrence<F> {
    pub reset: Reset,
    pub spike_grad: SpikeGrad,
    pub steps: usize,
    pub current: Current,
    pub emit: Emit,
    /// `U[t]` of every step, kept from forward for backward.
    membranes: Vec<F>,
}

impl<F: Float> LeakyRecurrence<F> {
    pub fn new(reset: Reset, spike_grad: SpikeGrad, steps: usize, current: Current, emit: Emit) -> Self {
        Self { reset, spike_grad, steps, current, emit, membranes: Vec::new() }
    }

    /// Runs the recurrence and returns the membranes of all steps,
    /// `[steps * batch, neurons]`.
    pub fn membranes(&self, current: &Tensor<F>, beta: &Tensor<F>, threshold: &Tensor<F>) -> Tensor<F> {
        let (rows, neurons) = current.dims2("leaky_recurrence");
        let batch_len = match self.current {
            Current::Static => rows * neurons,
            Current::PerStep => {
                assert!(
                    rows % self.steps == 0,
                    "leaky_recurrence: {rows} current rows do not split into {} steps",
                    self.steps
                );
                rows / self.steps * neurons
            }
        };
        let beta = clamped(&PerColumn::new("leaky_recurrence", beta, neurons), neurons);
        let threshold = expand(&PerColumn::new("leaky_recurrence", threshold, neurons), neurons);

        let mut mem = vec![F::ZERO; self.steps * batch_len];
        let zeros = vec![F::ZERO; batch_len];
        for t in 0..self.steps {
            let input = match self.current {
                Current::Static => current.data(),
                Current::PerStep => &current.data()[t * batch_len..(t + 1) * batch_len],
            };
            let (done, rest) = mem.split_at_mut(t * batch_len);
            let now = &mut rest[..batch_len];
            let prev = if t == 0 { &zeros[..] } else { &done[(t - 1) * batch_len..] };
            let rows = now.chunks_exact_mut(neurons).zip(prev.chunks_exact(neurons)).zip(input.chunks_exact(neurons));
            for ((now_row, prev_row), in_row) in rows {
                macro_rules! fill {
                    ($reset:expr) => {
                        for j in 0..neurons {
                            now_row[j] = update($reset, beta[j].0, threshold[j], prev_row[j], in_row[j]);
                        }
                    };
                }
                match self.reset {
                    Reset::Subtract => fill!(Reset::Subtract),
                    Reset::Zero => fill!(Reset::Zero),
                    Reset::None => fill!(Reset::None),
                }
            }
        }
        Tensor::from_vec(mem, &[self.steps * batch_len / neurons, neurons])
    }
}

/// One neuron's membrane update (see [`crate::leaky`]).
#[inline(always)]
fn update<F: Float>(reset: Reset, beta: F, threshold: F, prev: F, input: F) -> F {
    let fired = prev - threshold > F::ZERO;
    match reset {
        Reset::Subtract => beta * prev + input - if fired { threshold } else { F::ZERO },
        Reset::Zero => (if fired { F::ZERO } else { beta * prev }) + input,
        Reset::None => beta * prev + input,
    }
}

fn expand<F: Float>(param: &PerColumn<'_, F>, neurons: usize) -> Vec<F> {
    (0..neurons).map(|j| param.at(j)).collect()
}

/// `clamp(beta, 0, 1)` per neuron, and whether the clamp passes a gradient
/// (strictly inside `(0, 1)`).
fn clamped<F: Float>(beta: &PerColumn<'_, F>, neurons: usize) -> Vec<(F, bool)> {
    (0..neurons).map(|j| crate::leaky::clamp_unit(beta.at(j))).collect()
}

/// Writes `g * surrogate'(U - threshold)` for one row, with a separate
/// loop per surrogate shape so that each one vectorizes.
fn surrogate_times<F: Float>(spike_grad: SpikeGrad, g: &[F], u: &[F], threshold: &[F], out: &mut [F]) {
    macro_rules! fill {
        ($surrogate:expr) => {{
            let surrogate = $surrogate;
            for j in 0..out.len() {
                out[j] = g[j] * surrogate.grad(u[j] - threshold[j]);
            }
        }};
    }
    match spike_grad {
        SpikeGrad::ATan { alpha } => fill!(autodiff::ATan { alpha }),
        other => fill!(other),
    }
}

/// One Leaky layer stepped in place, for inference: the membrane of every
/// sample lives in one `[batch, neurons]` buffer that each step updates, so
/// nothing is allocated per step.
pub struct LeakyState<F> {
    reset: Reset,
    beta: Vec<F>,
    threshold: Vec<F>,
    /// `U[t]`, `[batch, neurons]`, zero before the first step.
    pub membrane: Vec<F>,
    /// `S[t]`, `[batch, neurons]`.
    pub spikes: Vec<F>,
}

impl<F: Float> LeakyState<F> {
    pub fn new(lif: &crate::Leaky<F>, batch: usize, neurons: usize) -> Self {
        let beta = clamped(&PerColumn::new("LeakyState", &lif.beta, neurons), neurons).into_iter().map(|(b, _)| b).collect();
        let threshold = expand(&PerColumn::new("LeakyState", &lif.threshold, neurons), neurons);
        let zeros = vec![F::ZERO; batch * neurons];
        Self { reset: lif.reset_mechanism, beta, threshold, membrane: zeros.clone(), spikes: zeros }
    }

    /// Advances one step with `current`, `[batch, neurons]`.
    pub fn step(&mut self, current: &[F]) {
        let neurons = self.beta.len();
        assert_eq!(current.len(), self.membrane.len(), "LeakyState::step: current of {} values for a membrane of {}", current.len(), self.membrane.len());
        let rows = self.membrane.chunks_exact_mut(neurons).zip(self.spikes.chunks_exact_mut(neurons)).zip(current.chunks_exact(neurons));
        for ((mem, spikes), input) in rows {
            macro_rules! fill {
                ($reset:expr) => {
                    for j in 0..neurons {
                        let u = update($reset, self.beta[j], self.threshold[j], mem[j], input[j]);
                        mem[j] = u;
                        spikes[j] = if u - self.threshold[j] > F::ZERO { F::ONE } else { F::ZERO };
                    }
                };
            }
            match self.reset {
                Reset::Subtract => fill!(Reset::Subtract),
                Reset::Zero => fill!(Reset::Zero),
                Reset::None => fill!(Reset::None),
            }
        }
    }
}

/// `H(U - threshold)` of stacked membranes.
pub fn spikes_of<F: Float>(membranes: &Tensor<F>, threshold: &Tensor<F>) -> Tensor<F> {
    let (_, neurons) = membranes.dims2("spikes_of");
    let threshold = expand(&PerColumn::new("spikes_of", threshold, neurons), neurons);
    let mut spikes = membranes.clone();
    for row in spikes.data_mut().chunks_exact_mut(neurons) {
        for (u, &th) in row.iter_mut().zip(&threshold) {
            *u = if *u - th > F::ZERO { F::ONE } else { F::ZERO };
        }
    }
    spikes
}

// ANCHOR: leaky_recurrence
impl<F: Float> Function<F> for LeakyRecurrence<F> {
    fn name(&self) -> &'static str {
        "leaky_recurrence"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let membranes = self.membranes(inputs[0], inputs[1], inputs[2]);
        let output = match self.emit {
            Emit::Spikes => spikes_of(&membranes, inputs[2]),
            Emit::Membrane => membranes.clone(),
        };
        self.membranes = membranes.into_vec();
        output
    }

    // Backward through time, with g[t] the gradient of the output at step t:
    //   direct[t] = g[t] s'(U[t] - th) for spikes, g[t] for membranes
    //   delta[t]  = direct[t] + b kept[t+1] delta[t+1]     (kept = 1 - R for zero reset, else 1)
    //   dI[t] = delta[t]                  (a static current sums it over t)
    //   dbeta = sum delta[t] kept[t] U[t-1]                (0 where the clamp is active)
    //   dth   = -sum direct[t] (spikes only) - sum delta[t] R[t] (subtract reset only)
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (current, beta_tensor, threshold_tensor) = (inputs[0], inputs[1], inputs[2]);
        let (rows, neurons) = grad.dims2("leaky_recurrence backward");
        let batch_len = rows / self.steps * neurons;
        let beta = clamped(&PerColumn::new("leaky_recurrence backward", beta_tensor, neurons), neurons);
        let threshold = expand(&PerColumn::new("leaky_recurrence backward", threshold_tensor, neurons), neurons);
        let mem = &self.membranes;
        let (want_beta, want_threshold) = (needs[1], needs[2]);

        let mut grad_current = match self.current {
            Current::Static => vec![F::ZERO; batch_len],
            Current::PerStep => vec![F::ZERO; rows * neurons],
        };
        let mut grad_beta = vec![F::ZERO; neurons];
        let mut grad_threshold = vec![F::ZERO; neurons];
        let mut delta_next = vec![F::ZERO; batch_len];

        // Each row is processed in passes with the mode checks outside the
        // loops, so that every loop is a plain pass the compiler vectorizes.
        let zeros = vec![F::ZERO; batch_len];
        let mut delta = vec![F::ZERO; neurons];
        for t in (0..self.steps).rev() {
            let now = &mem[t * batch_len..(t + 1) * batch_len];
            let prev = if t == 0 { &zeros[..] } else { &mem[(t - 1) * batch_len..t * batch_len] };
            let g = &grad.data()[t * batch_len..(t + 1) * batch_len];
            let last = t + 1 == self.steps;
            let grad_in = match self.current {
                Current::Static => &mut grad_current[..],
                Current::PerStep => &mut grad_current[t * batch_len..(t + 1) * batch_len],
            };
            let rows = now.chunks_exact(neurons).zip(prev.chunks_exact(neurons)).zip(g.chunks_exact(neurons));
            let carried = delta_next.chunks_exact_mut(neurons).zip(grad_in.chunks_exact_mut(neurons));
            for (((now, prev), g), (delta_next, grad_in)) in rows.zip(carried) {
                // The direct term: the output's own gradient at this step.
                match self.emit {
                    Emit::Spikes => surrogate_times(self.spike_grad, g, now, &threshold, &mut delta),
                    Emit::Membrane => delta.copy_from_slice(g),
                }
                if want_threshold && self.emit == Emit::Spikes {
                    for j in 0..neurons {
                        grad_threshold[j] -= delta[j];
                    }
                }

                // U[t+1] depends on U[t] through b, times (1 - R[t+1]) for the zero reset.
                if !last {
                    if self.reset == Reset::Zero {
                        for j in 0..neurons {
                            let kept = if now[j] - threshold[j] > F::ZERO { F::ZERO } else { F::ONE };
                            delta[j] += beta[j].0 * kept * delta_next[j];
                        }
                    } else {
                        for j in 0..neurons {
                            delta[j] += beta[j].0 * delta_next[j];
                        }
                    }
                }

                match self.current {
                    Current::Static => {
                        for j in 0..neurons {
                            grad_in[j] += delta[j];
                        }
                    }
                    Current::PerStep => grad_in.copy_from_slice(&delta),
                }

                if want_beta || want_threshold {
                    for j in 0..neurons {
                        let fired_prev = prev[j] - threshold[j] > F::ZERO;
                        if want_beta && beta[j].1 && !(self.reset == Reset::Zero && fired_prev) {
                            grad_beta[j] += delta[j] * prev[j];
                        }
                        if want_threshold && self.reset == Reset::Subtract && fired_prev {
                            grad_threshold[j] -= delta[j];
                        }
                    }
                }
                delta_next.copy_from_slice(&delta);
            }
        }

        let grad_current = Tensor::from_vec(grad_current, current.shape());
        let reduce = |param: &Tensor<F>, per_neuron: Vec<F>| -> Tensor<F> {
            if param.len() == 1 {
                Tensor::from_vec(vec![per_neuron.into_iter().sum()], param.shape())
            } else {
                Tensor::from_vec(per_neuron, param.shape())
            }
        };
        vec![
            needs[0].then_some(grad_current),
            want_beta.then(|| reduce(beta_tensor, grad_beta)),
            want_threshold.then(|| reduce(threshold_tensor, grad_threshold)),
        ]
    }
}
// ANCHOR_END: leaky_recurrence

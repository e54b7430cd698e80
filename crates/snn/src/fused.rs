//! Fused ops for the whole unrolled network: each one covers every time
//! step of a layer, so the tape contains three nodes for the network instead
//! of five per step, and the hot loops run over contiguous buffers.
//!
//! Layer 1 does not depend on layer 2, so all its steps can run first;
//! [`LeakyLinear`] runs them together with `fc2`, one sample at a time, and
//! [`LeakyRecurrence`] then runs the output layer on the stacked currents.
//! Rows of every stacked tensor are `[step 0: batch rows, step 1: batch
//! rows, ...]`, shape `[steps * batch, neurons]`. The results equal the
//! step-by-step network's ([`crate::Net::forward`]); the tests check that
//! to 1e-12.

use autodiff::ops::narrow;
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
                advance_row(self.reset, &beta, &threshold, prev_row, in_row, now_row);
            }
        }
        Tensor::from_vec(mem, &[self.steps * batch_len / neurons, neurons])
    }
}

/// Writes `U[t]` of one row from `U[t-1]` (`prev`) and the input current,
/// with a separate loop per reset mechanism so that each one vectorizes.
fn advance_row<F: Float>(reset: Reset, beta: &[(F, bool)], threshold: &[F], prev: &[F], input: &[F], now: &mut [F]) {
    macro_rules! fill {
        ($reset:expr) => {
            for j in 0..now.len() {
                now[j] = update($reset, beta[j].0, threshold[j], prev[j], input[j]);
            }
        };
    }
    match reset {
        Reset::Subtract => fill!(Reset::Subtract),
        Reset::Zero => fill!(Reset::Zero),
        Reset::None => fill!(Reset::None),
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

/// The per-neuron settings of a Leaky layer's backward pass.
struct BackStep<'a, F> {
    reset: Reset,
    spike_grad: SpikeGrad,
    emit: Emit,
    current: Current,
    beta: &'a [(F, bool)],
    threshold: &'a [F],
    want_beta: bool,
    want_threshold: bool,
}

/// One sample's row at one step, for [`BackStep::row`].
struct RowBack<'a, F> {
    /// `U[t]`.
    now: &'a [F],
    /// `U[t-1]`, zeros at the first step.
    prev: &'a [F],
    /// The gradient of this step's output.
    g: &'a [F],
    /// Whether `t` is the last step, which no later step depends on.
    last: bool,
}

// ANCHOR: backstep_row
impl<F: Float> BackStep<'_, F> {
    /// Runs one row of one step of backward through time. `delta_next`
    /// contains `delta[t+1]` of this row on entry and `delta[t]` on exit,
    /// and `delta` is scratch space of the row's width. The gradient with respect to the
    /// current is added (static current) or written (per-step current)
    /// into `grad_in`.
    ///
    /// Each quantity is computed in its own pass with the mode checks
    /// outside the loops, so that every loop is a plain pass the compiler
    /// vectorizes.
    fn row(&self, row: &RowBack<'_, F>, delta: &mut [F], delta_next: &mut [F], grad_in: &mut [F], grad_beta: &mut [F], grad_threshold: &mut [F]) {
        let (beta, threshold, neurons) = (self.beta, self.threshold, delta.len());
        let RowBack { now, prev, g, last } = *row;
        // The direct term: the output's own gradient at this step.
        match self.emit {
            Emit::Spikes => surrogate_times(self.spike_grad, g, now, threshold, delta),
            Emit::Membrane => delta.copy_from_slice(g),
        }
        if self.want_threshold && self.emit == Emit::Spikes {
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
            Current::PerStep => grad_in.copy_from_slice(delta),
        }

        if self.want_beta || self.want_threshold {
            for j in 0..neurons {
                let fired_prev = prev[j] - threshold[j] > F::ZERO;
                if self.want_beta && beta[j].1 && !(self.reset == Reset::Zero && fired_prev) {
                    grad_beta[j] += delta[j] * prev[j];
                }
                if self.want_threshold && self.reset == Reset::Subtract && fired_prev {
                    grad_threshold[j] -= delta[j];
                }
            }
        }
        delta_next.copy_from_slice(delta);
    }
}
// ANCHOR_END: backstep_row

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

        let back = BackStep {
            reset: self.reset,
            spike_grad: self.spike_grad,
            emit: self.emit,
            current: self.current,
            beta: &beta,
            threshold: &threshold,
            want_beta,
            want_threshold,
        };
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
                let row = RowBack { now, prev, g, last };
                back.row(&row, &mut delta, delta_next, grad_in, &mut grad_beta, &mut grad_threshold);
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

/// A Leaky layer run over all steps from a zero membrane, followed by the
/// linear layer that reads its spikes, as one op.
///
/// Inputs: the current, beta and threshold (as for [`LeakyRecurrence`]),
/// then the linear layer's weight `[outputs, neurons]` and bias
/// `[outputs]`. Output: that layer's current for every step, `[steps *
/// batch, outputs]`, equal to [`LeakyRecurrence`] with [`Emit::Spikes`]
/// followed by a linear layer.
///
/// The op takes one sample through all its steps before the next, so the
/// sample's membranes and spikes (`steps * neurons` values) stay in the
/// cache, and the stacked spikes of the whole batch are never written to
/// memory. Backward runs each sample's steps again to get its membranes
/// back rather than keeping them from forward: for the tutorial's layer
/// that costs less than writing and reading them would. The loops of the
/// linear part are [`autodiff::ops::narrow`]'s, made for a few
/// outputs.
pub struct LeakyLinear {
    pub reset: Reset,
    pub spike_grad: SpikeGrad,
    pub steps: usize,
    pub current: Current,
}

/// The sizes of one [`LeakyLinear`] call.
#[derive(Clone, Copy)]
struct Sizes {
    batch: usize,
    neurons: usize,
    outputs: usize,
}

/// A sample's working buffers: membranes and spikes, each `[steps,
/// neurons]`, and the zero membrane before the first step.
struct Sample<F> {
    membranes: Vec<F>,
    spikes: Vec<F>,
    zeros: Vec<F>,
}

impl<F: Float> Sample<F> {
    fn new(steps: usize, neurons: usize) -> Self {
        Self { membranes: vec![F::ZERO; steps * neurons], spikes: vec![F::ZERO; steps * neurons], zeros: vec![F::ZERO; neurons] }
    }
}

impl LeakyLinear {
    pub fn new(reset: Reset, spike_grad: SpikeGrad, steps: usize, current: Current) -> Self {
        Self { reset, spike_grad, steps, current }
    }

    fn sizes<F: Float>(&self, current: &Tensor<F>, weight: &Tensor<F>, bias: &Tensor<F>) -> Sizes {
        let (rows, neurons) = current.dims2("leaky_linear");
        let (outputs, weight_inputs) = weight.dims2("leaky_linear");
        assert!(
            weight_inputs == neurons,
            "leaky_linear: weight shape {:?} does not fit a current of {neurons} neurons",
            weight.shape()
        );
        assert!(
            bias.shape() == [outputs],
            "leaky_linear: bias shape {:?} does not match weight shape {:?}",
            bias.shape(),
            weight.shape()
        );
        let batch = match self.current {
            Current::Static => rows,
            Current::PerStep => {
                assert!(rows % self.steps == 0, "leaky_linear: {rows} current rows do not split into {} steps", self.steps);
                rows / self.steps
            }
        };
        Sizes { batch, neurons, outputs }
    }

    /// Returns the row of `current` that sample `b` reads at step `t`.
    fn input_row(&self, sizes: Sizes, t: usize, b: usize) -> usize {
        match self.current {
            Current::Static => b,
            Current::PerStep => t * sizes.batch + b,
        }
    }

    /// Runs sample `b` through every step, writing `U[t]` and `H(U[t] -
    /// threshold)` of each step into `sample`.
    fn run_sample<F: Float>(&self, current: &[F], sizes: Sizes, b: usize, beta: &[(F, bool)], threshold: &[F], sample: &mut Sample<F>) {
        let n = sizes.neurons;
        for t in 0..self.steps {
            let input = &current[self.input_row(sizes, t, b) * n..][..n];
            let (done, rest) = sample.membranes.split_at_mut(t * n);
            let now = &mut rest[..n];
            let prev = if t == 0 { &sample.zeros[..] } else { &done[(t - 1) * n..t * n] };
            advance_row(self.reset, beta, threshold, prev, input, now);
            let spikes = &mut sample.spikes[t * n..(t + 1) * n];
            for j in 0..n {
                spikes[j] = if now[j] - threshold[j] > F::ZERO { F::ONE } else { F::ZERO };
            }
        }
    }
}

/// Per-neuron beta (clamped) and threshold of a fused op's inputs.
fn neuron_parameters<F: Float>(name: &str, beta: &Tensor<F>, threshold: &Tensor<F>, neurons: usize) -> (Vec<(F, bool)>, Vec<F>) {
    (clamped(&PerColumn::new(name, beta, neurons), neurons), expand(&PerColumn::new(name, threshold, neurons), neurons))
}

// ANCHOR: leaky_linear
impl<F: Float> Function<F> for LeakyLinear {
    fn name(&self) -> &'static str {
        "leaky_linear"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let (current, weight, bias) = (inputs[0], inputs[3], inputs[4]);
        let sizes = self.sizes(current, weight, bias);
        let Sizes { batch, neurons, outputs } = sizes;
        let (beta, threshold) = neuron_parameters("leaky_linear", inputs[1], inputs[2], neurons);

        let mut out = Tensor::zeros(&[self.steps * batch, outputs]);
        let mut sample = Sample::new(self.steps, neurons);
        let mut y = vec![F::ZERO; self.steps * outputs];
        for b in 0..batch {
            self.run_sample(current.data(), sizes, b, &beta, &threshold, &mut sample);
            for row in y.chunks_exact_mut(outputs) {
                row.copy_from_slice(bias.data());
            }
            narrow::add_product(&sample.spikes, weight.data(), &mut y, outputs);
            for (t, row) in y.chunks_exact(outputs).enumerate() {
                out.data_mut()[(t * batch + b) * outputs..][..outputs].copy_from_slice(row);
            }
        }
        out
    }

    // For each sample, with G[t] the gradient of the output at step t:
    //   dW += sum over t of G[t]^T S[t],   db += sum over t of G[t]
    //   the spikes' gradient G[t] W, then backward through the Leaky
    //   layer's steps as in LeakyRecurrence.
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (current, beta_tensor, threshold_tensor, weight, bias) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]);
        let sizes = self.sizes(current, weight, bias);
        let Sizes { batch, neurons, outputs } = sizes;
        let (beta, threshold) = neuron_parameters("leaky_linear backward", beta_tensor, threshold_tensor, neurons);
        let (want_beta, want_threshold) = (needs[1], needs[2]);
        let through_layer = needs[0] || want_beta || want_threshold;

        let mut grad_current = vec![F::ZERO; current.len()];
        let mut grad_beta = vec![F::ZERO; neurons];
        let mut grad_threshold = vec![F::ZERO; neurons];
        let mut grad_weight = vec![F::ZERO; weight.len()];
        let mut grad_bias = vec![F::ZERO; outputs];

        let back = BackStep {
            reset: self.reset,
            spike_grad: self.spike_grad,
            emit: Emit::Spikes,
            current: self.current,
            beta: &beta,
            threshold: &threshold,
            want_beta,
            want_threshold,
        };
        let mut sample = Sample::new(self.steps, neurons);
        let mut g = vec![F::ZERO; self.steps * outputs];
        let mut spike_grad = vec![F::ZERO; self.steps * neurons];
        let (mut delta, mut delta_next) = (vec![F::ZERO; neurons], vec![F::ZERO; neurons]);
        let zeros = vec![F::ZERO; neurons];
        for b in 0..batch {
            self.run_sample(current.data(), sizes, b, &beta, &threshold, &mut sample);
            for (t, row) in g.chunks_exact_mut(outputs).enumerate() {
                row.copy_from_slice(&grad.data()[(t * batch + b) * outputs..][..outputs]);
            }
            if needs[3] {
                narrow::add_weight_grad(&g, &sample.spikes, &mut grad_weight, outputs);
            }
            if needs[4] {
                for row in g.chunks_exact(outputs) {
                    grad_bias.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
                }
            }
            if !through_layer {
                continue;
            }
            narrow::input_grad(&g, weight.data(), &mut spike_grad, outputs);
            for t in (0..self.steps).rev() {
                let row = RowBack {
                    now: &sample.membranes[t * neurons..(t + 1) * neurons],
                    prev: if t == 0 { &zeros } else { &sample.membranes[(t - 1) * neurons..t * neurons] },
                    g: &spike_grad[t * neurons..(t + 1) * neurons],
                    last: t + 1 == self.steps,
                };
                let grad_in = &mut grad_current[self.input_row(sizes, t, b) * neurons..][..neurons];
                back.row(&row, &mut delta, &mut delta_next, grad_in, &mut grad_beta, &mut grad_threshold);
            }
        }

        let per_parameter = |param: &Tensor<F>, per_neuron: Vec<F>| -> Tensor<F> {
            if param.len() == 1 {
                Tensor::from_vec(vec![per_neuron.into_iter().sum()], param.shape())
            } else {
                Tensor::from_vec(per_neuron, param.shape())
            }
        };
        vec![
            needs[0].then(|| Tensor::from_vec(grad_current, current.shape())),
            want_beta.then(|| per_parameter(beta_tensor, grad_beta)),
            want_threshold.then(|| per_parameter(threshold_tensor, grad_threshold)),
            needs[3].then(|| Tensor::from_vec(grad_weight, weight.shape())),
            needs[4].then(|| Tensor::from_vec(grad_bias, bias.shape())),
        ]
    }
}
// ANCHOR_END: leaky_linear

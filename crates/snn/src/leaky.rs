//! The leaky integrate-and-fire neuron with snnTorch's `Leaky` semantics.
//!
//! One step, for input current `I[t]` and membrane `U[t-1]`:
//!
//! 1. reset `R[t] = H(U[t-1] - threshold)`, from the membrane before the
//!    update, detached: no gradient flows through it;
//! 2. the update, with `b = clamp(beta, 0, 1)`:
//!    - subtract: `U[t] = b U[t-1] + I[t] - R[t] threshold`
//!    - zero:     `U[t] = b (1 - R[t]) U[t-1] + I[t]`
//!    - none:     `U[t] = b U[t-1] + I[t]`
//! 3. the spike `S[t] = H(U[t] - threshold)`, strict, with the surrogate
//!    gradient in backward.
//!
//! The returned membrane is `U[t]` before its own spike's reset (that reset
//! happens at the next step), so it can exceed the threshold.

use std::fmt;

use autodiff::{Float, Function, Heaviside, PerColumn, Tape, Tensor, Var};

use crate::SpikeGrad;

/// The rule that resets the membrane after a spike (snnTorch's `reset_mechanism`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reset {
    /// Subtract the threshold: `U[t] = b U[t-1] + I[t] - R[t] threshold`.
    #[default]
    Subtract,
    /// Set the membrane to zero: `U[t] = b (1 - R[t]) U[t-1] + I[t]`.
    Zero,
    /// No reset: `U[t] = b U[t-1] + I[t]`.
    None,
}

/// A layer of leaky integrate-and-fire neurons.
#[derive(Clone, Debug)]
pub struct Leaky<F> {
    /// Membrane decay per step: one value (shape `[]`) or one per neuron
    /// (shape `[neurons]`). Clamped to `[0, 1]` in the forward pass; stored
    /// unclamped when learnable.
    pub beta: Tensor<F>,
    /// Firing threshold, shape `[]` or `[neurons]`. Default 1.0.
    pub threshold: Tensor<F>,
    /// Whether `beta` is trained. Default false.
    pub learn_beta: bool,
    /// Whether `threshold` is trained. Default false.
    pub learn_threshold: bool,
    /// Default [`Reset::Subtract`].
    pub reset_mechanism: Reset,
    /// Default ATan with `alpha = 2`.
    pub spike_grad: SpikeGrad,
}

/// A beta or threshold vector whose length does not match the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    pub parameter: &'static str,
    pub got: usize,
    pub neurons: usize,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} has {} values for a layer of {} neurons: give one value, or exactly one per neuron",
            self.parameter, self.got, self.neurons
        )
    }
}

impl std::error::Error for ShapeError {}

/// A [`Leaky`] layer's beta and threshold registered on a tape: leaves when
/// learnable, constants otherwise.
#[derive(Clone, Copy)]
pub struct LeakyVars<'t, F: Float> {
    pub beta: Var<'t, F>,
    pub threshold: Var<'t, F>,
}

impl<F: Float> Leaky<F> {
    /// A layer with one fixed `beta`, threshold 1.0, subtract reset and the
    /// ATan surrogate: snnTorch's `snn.Leaky(beta=beta)`.
    pub fn new(beta: f64) -> Self {
        Self {
            beta: Tensor::scalar(F::from_f64(beta)),
            threshold: Tensor::scalar(F::ONE),
            learn_beta: false,
            learn_threshold: false,
            reset_mechanism: Reset::Subtract,
            spike_grad: SpikeGrad::default(),
        }
    }

    /// Sets one beta per neuron.
    pub fn with_beta_per_neuron(mut self, beta: &[f64]) -> Self {
        self.beta = Tensor::from_f64(beta, &[beta.len()]);
        self
    }

    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = Tensor::scalar(F::from_f64(threshold));
        self
    }

    pub fn with_reset(mut self, reset: Reset) -> Self {
        self.reset_mechanism = reset;
        self
    }

    pub fn with_learn_beta(mut self, learn: bool) -> Self {
        self.learn_beta = learn;
        self
    }

    pub fn with_learn_threshold(mut self, learn: bool) -> Self {
        self.learn_threshold = learn;
        self
    }

    pub fn with_spike_grad(mut self, spike_grad: SpikeGrad) -> Self {
        self.spike_grad = spike_grad;
        self
    }

    /// Checks that beta and threshold fit a layer of `neurons`.
    pub fn check(&self, neurons: usize) -> Result<(), ShapeError> {
        for (parameter, tensor) in [("beta", &self.beta), ("threshold", &self.threshold)] {
            if !(tensor.len() == 1 || tensor.shape() == [neurons]) {
                return Err(ShapeError { parameter, got: tensor.len(), neurons });
            }
        }
        Ok(())
    }

    /// Registers beta and threshold on `tape`.
    pub fn register<'t>(&self, tape: &'t Tape<F>) -> LeakyVars<'t, F> {
        let register = |value: &Tensor<F>, learn: bool| {
            if learn { tape.leaf(value.clone()) } else { tape.constant(value.clone()) }
        };
        LeakyVars {
            beta: register(&self.beta, self.learn_beta),
            threshold: register(&self.threshold, self.learn_threshold),
        }
    }

    /// A zero membrane for `batch` samples of `neurons` (snnTorch's
    /// `init_leaky`).
    pub fn init_leaky<'t>(tape: &'t Tape<F>, batch: usize, neurons: usize) -> Var<'t, F> {
        tape.constant(Tensor::zeros(&[batch, neurons]))
    }

    /// One step on the tape: returns `(spikes, membrane)`.
    // ANCHOR: leaky_step
    pub fn step<'t>(&self, vars: &LeakyVars<'t, F>, current: Var<'t, F>, membrane: Var<'t, F>) -> (Var<'t, F>, Var<'t, F>) {
        let tape = current.tape();
        let membrane = tape.apply(
            LeakyUpdate { reset: self.reset_mechanism },
            &[current, membrane, vars.beta, vars.threshold],
        );
        let spikes = membrane.spike(vars.threshold, self.spike_grad);
        (spikes, membrane)
    }
    // ANCHOR_END: leaky_step

    /// One step without a tape, for inference: updates `membrane` and
    /// returns the spikes. The same rules as [`Leaky::step`].
    pub fn infer_step(&self, current: &Tensor<F>, membrane: &mut Tensor<F>) -> Tensor<F> {
        *membrane = LeakyUpdate::compute(self.reset_mechanism, current, membrane, &self.beta, &self.threshold);
        Heaviside { surrogate: self.spike_grad }.forward(&[membrane, &self.threshold])
    }
}

/// The membrane update of one step, fused into one op.
///
/// Inputs: current `I [batch, neurons]`, previous membrane `U [batch,
/// neurons]`, beta and threshold (`[]` or `[neurons]` each).
struct LeakyUpdate {
    reset: Reset,
}

/// `clamp(beta, 0, 1)`, and whether the clamp passes a gradient: only
/// strictly inside `(0, 1)`, as PyTorch's `clamp` does (torch 2.15).
pub(crate) fn clamp_unit<F: Float>(beta: F) -> (F, bool) {
    if beta <= F::ZERO {
        (F::ZERO, false)
    } else if beta >= F::ONE {
        (F::ONE, false)
    } else {
        (beta, true)
    }
}

// ANCHOR: leaky_update
impl LeakyUpdate {
    fn compute<F: Float>(reset: Reset, current: &Tensor<F>, previous: &Tensor<F>, beta: &Tensor<F>, threshold: &Tensor<F>) -> Tensor<F> {
        assert!(
            current.shape() == previous.shape(),
            "leaky: current shape {:?} differs from membrane shape {:?}",
            current.shape(),
            previous.shape()
        );
        let (_, neurons) = current.dims2("leaky");
        let beta = PerColumn::new("leaky", beta, neurons);
        let threshold = PerColumn::new("leaky", threshold, neurons);

        let mut next = current.clone();
        for (next_row, prev_row) in next.data_mut().chunks_exact_mut(neurons).zip(previous.data().chunks_exact(neurons)) {
            for (j, (u, &prev)) in next_row.iter_mut().zip(prev_row).enumerate() {
                let (b, _) = clamp_unit(beta.at(j));
                let theta = threshold.at(j);
                let fired = prev - theta > F::ZERO;
                *u += match reset {
                    Reset::Subtract if fired => b * prev - theta,
                    Reset::Zero if fired => F::ZERO,
                    _ => b * prev,
                };
            }
        }
        next
    }
}

impl<F: Float> Function<F> for LeakyUpdate {
    fn name(&self) -> &'static str {
        "leaky"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        Self::compute(self.reset, inputs[0], inputs[1], inputs[2], inputs[3])
    }

    // With g = dL/dU[t], b = clamp(beta), R the detached reset:
    //   dI = g
    //   dU[t-1] = b g             (zero reset: b (1 - R) g)
    //   dbeta = sum g U[t-1]      (zero reset: sum g (1 - R) U[t-1]), 0 where the clamp is active
    //   dthreshold = -sum g R     (subtract reset only; R itself carries no gradient)
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (previous, beta_tensor, threshold_tensor) = (inputs[1], inputs[2], inputs[3]);
        let (rows, neurons) = grad.dims2("leaky backward");
        let beta = PerColumn::new("leaky backward", beta_tensor, neurons);
        let threshold = PerColumn::new("leaky backward", threshold_tensor, neurons);
        let kept = |i: usize, j: usize| -> F {
            let fired = previous.data()[i * neurons + j] - threshold.at(j) > F::ZERO;
            if self.reset == Reset::Zero && fired { F::ZERO } else { F::ONE }
        };

        let grad_previous = needs[1].then(|| {
            let mut d = grad.clone();
            for (i, row) in d.data_mut().chunks_exact_mut(neurons).enumerate() {
                for (j, g) in row.iter_mut().enumerate() {
                    *g *= clamp_unit(beta.at(j)).0 * kept(i, j);
                }
            }
            d
        });
        let grad_beta = needs[2].then(|| {
            PerColumn::reduce(beta_tensor, rows, neurons, |i, j| {
                let k = i * neurons + j;
                if clamp_unit(beta.at(j)).1 { grad.data()[k] * previous.data()[k] * kept(i, j) } else { F::ZERO }
            })
        });
        let grad_threshold = needs[3].then(|| {
            PerColumn::reduce(threshold_tensor, rows, neurons, |i, j| {
                let k = i * neurons + j;
                let fired = previous.data()[k] - threshold.at(j) > F::ZERO;
                if self.reset == Reset::Subtract && fired { -grad.data()[k] } else { F::ZERO }
            })
        });
        vec![needs[0].then(|| grad.clone()), grad_previous, grad_beta, grad_threshold]
    }
}
// ANCHOR_END: leaky_update

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a single neuron for the given currents and returns its spikes
    /// and membranes.
    fn run(leaky: &Leaky<f64>, currents: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let tape = Tape::new();
        let vars = leaky.register(&tape);
        let mut mem = Leaky::init_leaky(&tape, 1, 1);
        let (mut spikes, mut mems) = (Vec::new(), Vec::new());
        for &c in currents {
            let (spk, next) = leaky.step(&vars, tape.constant(Tensor::from_vec(vec![c], &[1, 1])), mem);
            mem = next;
            spikes.push(spk.value().item());
            mems.push(mem.value().item());
        }
        (spikes, mems)
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn subtract_reset_by_hand() {
        // beta 0.5, threshold 1, current 0.8 each step:
        // U1 = 0.8; U2 = 0.4 + 0.8 = 1.2 (spike); U3 = 0.6 + 0.8 - 1 = 0.4 (reset from U2);
        // U4 = 0.2 + 0.8 = 1.0 (exactly at threshold: no spike); U5 = 0.5 + 0.8 = 1.3 (spike).
        let (spk, mem) = run(&Leaky::new(0.5), &[0.8; 5]);
        assert_close(&mem, &[0.8, 1.2, 0.4, 1.0, 1.3]);
        assert_eq!(spk, [0.0, 1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn zero_reset_by_hand() {
        // beta 0.5, threshold 1, current 0.8: U2 = 1.2 spikes; U3 = 0.5 * 0 * 1.2 + 0.8 = 0.8;
        // U4 = 0.4 + 0.8 = 1.2 (spike); U5 = 0.8.
        let (spk, mem) = run(&Leaky::new(0.5).with_reset(Reset::Zero), &[0.8; 5]);
        assert_close(&mem, &[0.8, 1.2, 0.8, 1.2, 0.8]);
        assert_eq!(spk, [0.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn membrane_gradient_through_time_by_hand() {
        // Two steps, no spikes: U2 = b U1 + I2 = b I1 + I2, so dU2/dI1 = b and dU2/dbeta = I1.
        let leaky = Leaky::new(0.9).with_learn_beta(true);
        let tape = Tape::new();
        let vars = leaky.register(&tape);
        let i1 = tape.leaf(Tensor::from_vec(vec![0.3], &[1, 1]));
        let i2 = tape.leaf(Tensor::from_vec(vec![0.2], &[1, 1]));
        let (_, u1) = leaky.step(&vars, i1, Leaky::init_leaky(&tape, 1, 1));
        let (_, u2) = leaky.step(&vars, i2, u1);
        let grads = u2.sum().backward();
        assert!((grads.get(i1).unwrap().item() - 0.9).abs() < 1e-15);
        assert_eq!(grads.get(i2).unwrap().item(), 1.0);
        assert!((grads.get(vars.beta).unwrap().item() - 0.3).abs() < 1e-15);
    }

    #[test]
    fn beta_is_clamped_in_the_forward_pass() {
        // beta 1.5 acts as 1.0: U2 = 0.3 + 0.3.
        let (_, mem) = run(&Leaky::new(1.5), &[0.3, 0.3]);
        assert_close(&mem, &[0.3, 0.6]);
    }

    #[test]
    fn per_neuron_beta_length_is_checked() {
        let leaky = Leaky::<f32>::new(0.9).with_beta_per_neuron(&[0.9, 0.8, 0.7]);
        assert!(leaky.check(3).is_ok());
        let err = leaky.check(4).unwrap_err();
        assert_eq!(err, ShapeError { parameter: "beta", got: 3, neurons: 4 });
        assert!(err.to_string().contains("beta has 3 values for a layer of 4 neurons"));
    }
}

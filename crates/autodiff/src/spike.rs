//! The Heaviside spike: a step in the forward pass, a smooth surrogate in
//! the backward pass.
//!
//! The step `S = H(U - threshold)` has zero derivative everywhere except at
//! the threshold, where it has none, so the true gradient would stop all
//! learning. Backward therefore uses the derivative of a smooth function
//! shaped like the step: the surrogate gradient. This file is the model for
//! custom functions: one [`Function`] with the forward rule and the backward
//! rule side by side.

use std::f64::consts::PI;

use crate::{Float, Function, PerColumn, Tensor, Var};

/// The derivative that stands in for the step's in the backward pass,
/// as a function of `x = U - threshold`.
pub trait Surrogate<F: Float>: 'static {
    fn grad(&self, x: F) -> F;
}

/// The arctangent surrogate, snnTorch's default:
/// `dS/dx = (alpha / 2) / (1 + (pi * alpha * x / 2)^2)`.
///
/// It is the derivative of `atan(pi * alpha * x / 2) / pi + 1/2` and peaks at
/// `alpha / 2` at the threshold (1.0 with the default `alpha = 2`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ATan {
    /// Steepness. Default 2.0, as in snnTorch.
    pub alpha: f64,
}

impl Default for ATan {
    fn default() -> Self {
        Self { alpha: 2.0 }
    }
}

// ANCHOR: atan
impl<F: Float> Surrogate<F> for ATan {
    fn grad(&self, x: F) -> F {
        let half_alpha = F::from_f64(self.alpha / 2.0);
        let scaled = F::from_f64(PI) * half_alpha * x;
        half_alpha / (F::ONE + scaled * scaled)
    }
}
// ANCHOR_END: atan

/// `S = 1 if U - threshold > 0 else 0` (strict: a membrane exactly at the
/// threshold does not spike), with the surrogate's derivative in backward.
///
/// Inputs: the membrane `U` of shape `[.., neurons]` and the threshold,
/// either one value (shape `[]`) or one per neuron (shape `[neurons]`).
pub struct Heaviside<S> {
    pub surrogate: S,
}

// ANCHOR: heaviside
impl<F: Float, S: Surrogate<F>> Function<F> for Heaviside<S> {
    fn name(&self) -> &'static str {
        "spike"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let (membrane, threshold) = (inputs[0], inputs[1]);
        let neurons = *membrane.shape().last().unwrap_or(&1);
        let threshold = PerColumn::new("spike", threshold, neurons);
        let mut spikes = membrane.clone();
        for row in spikes.data_mut().chunks_exact_mut(neurons) {
            for (j, u) in row.iter_mut().enumerate() {
                *u = if *u - threshold.at(j) > F::ZERO { F::ONE } else { F::ZERO };
            }
        }
        spikes
    }

    // dS/dU = surrogate'(U - threshold),  dS/dthreshold = -surrogate'(U - threshold)
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (membrane, threshold_tensor) = (inputs[0], inputs[1]);
        let neurons = *membrane.shape().last().unwrap_or(&1);
        let rows = membrane.len() / neurons;
        let threshold = PerColumn::new("spike backward", threshold_tensor, neurons);

        let mut grad_membrane = grad.clone();
        for (i, row) in grad_membrane.data_mut().chunks_exact_mut(neurons).enumerate() {
            for (j, g) in row.iter_mut().enumerate() {
                let x = membrane.data()[i * neurons + j] - threshold.at(j);
                *g *= self.surrogate.grad(x);
            }
        }
        let grad_threshold = needs[1]
            .then(|| PerColumn::reduce(threshold_tensor, rows, neurons, |i, j| -grad_membrane.data()[i * neurons + j]));
        vec![needs[0].then_some(grad_membrane), grad_threshold]
    }
}
// ANCHOR_END: heaviside

impl<'t, F: Float> Var<'t, F> {
    /// Spikes where this membrane exceeds `threshold` (one value, or one per
    /// neuron), with `surrogate` as the derivative in backward.
    pub fn spike(self, threshold: Self, surrogate: impl Surrogate<F>) -> Self {
        self.tape().apply(Heaviside { surrogate }, &[self, threshold])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;

    #[test]
    fn forward_is_a_strict_step() {
        let tape = Tape::new();
        let u = tape.leaf(Tensor::<f64>::from_vec(vec![0.5, 1.0, 1.0 + 1e-12, 3.0], &[4]));
        let threshold = tape.constant(Tensor::scalar(1.0));
        let s = u.spike(threshold, ATan::default());
        assert_eq!(s.value().data(), &[0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn backward_is_the_atan_formula() {
        let tape = Tape::new();
        let values = [-1.0, 0.5, 1.0, 1.25, 3.0];
        let u = tape.leaf(Tensor::<f64>::from_vec(values.to_vec(), &[5]));
        let threshold = tape.leaf(Tensor::scalar(1.0));
        let grads = u.spike(threshold, ATan::default()).sum().backward();
        for (g, u) in grads.get(u).unwrap().data().iter().zip(values) {
            // alpha = 2: (alpha / 2) / (1 + (pi alpha x / 2)^2) = 1 / (1 + (pi x)^2)
            let x = u - 1.0;
            let expected = 1.0 / (1.0 + (PI * x).powi(2));
            assert!((g - expected).abs() < 1e-15, "at U = {u}: {g} vs {expected}");
        }
        let sum: f64 = values.iter().map(|u| 1.0 / (1.0 + (PI * (u - 1.0)).powi(2))).sum();
        assert!((grads.get(threshold).unwrap().item() + sum).abs() < 1e-14);
    }

    #[test]
    fn surrogate_is_finite_far_from_threshold() {
        for x in [1e20, -1e20, 0.0] {
            let g: f32 = ATan::default().grad(x as f32);
            assert!(g.is_finite(), "at {x}: {g}");
            assert!(g >= 0.0, "at {x}: {g}");
        }
    }
}

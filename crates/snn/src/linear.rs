//! A fully connected layer.

use autodiff::{Float, Tape, Tensor, Var};
use rand::{Rng, RngExt};

/// `y = x W^T + b`, with PyTorch's layout: `weight` is `[out, in]`,
/// `bias` is `[out]`.
#[derive(Clone, Debug)]
pub struct Linear<F> {
    pub weight: Tensor<F>,
    pub bias: Tensor<F>,
}

/// A [`Linear`] layer's parameters registered on a tape.
#[derive(Clone, Copy)]
pub struct LinearVars<'t, F: Float> {
    pub weight: Var<'t, F>,
    pub bias: Var<'t, F>,
}

impl<F: Float> Linear<F> {
    /// A layer initialised as PyTorch's `nn.Linear` does: weight and bias
    /// drawn uniformly from `[-1/sqrt(in), 1/sqrt(in))`.
    pub fn new(inputs: usize, outputs: usize, rng: &mut impl Rng) -> Self {
        let bound = 1.0 / (inputs as f64).sqrt();
        let mut uniform = |n: usize| -> Vec<F> { (0..n).map(|_| F::from_f64(rng.random_range(-bound..bound))).collect() };
        let weight = Tensor::from_vec(uniform(outputs * inputs), &[outputs, inputs]);
        let bias = Tensor::from_vec(uniform(outputs), &[outputs]);
        Self { weight, bias }
    }

    /// A layer with the given parameters.
    ///
    /// # Panics
    /// When `weight` is not 2-D or `bias` is not `[out]`.
    pub fn from_parameters(weight: Tensor<F>, bias: Tensor<F>) -> Self {
        let (outputs, _) = weight.dims2("Linear::from_parameters");
        assert!(
            bias.shape() == [outputs],
            "Linear::from_parameters: bias shape {:?} does not match weight shape {:?}",
            bias.shape(),
            weight.shape()
        );
        Self { weight, bias }
    }

    pub fn inputs(&self) -> usize {
        self.weight.shape()[1]
    }

    pub fn outputs(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Registers the weight and the bias as leaves of `tape`.
    pub fn register<'t>(&self, tape: &'t Tape<F>) -> LinearVars<'t, F> {
        LinearVars { weight: tape.leaf(self.weight.clone()), bias: tape.leaf(self.bias.clone()) }
    }

    /// The layer applied to `x: [batch, in]` on the tape.
    pub fn forward<'t>(vars: &LinearVars<'t, F>, x: Var<'t, F>) -> Var<'t, F> {
        x.linear(vars.weight, vars.bias)
    }

    /// The layer applied to `x: [batch, in]` without a tape.
    pub fn infer(&self, x: &Tensor<F>) -> Tensor<F> {
        autodiff::ops::matmul::Linear::compute(x, &self.weight, &self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn init_stays_within_pytorch_bound() {
        let layer = Linear::<f32>::new(784, 1000, &mut StdRng::seed_from_u64(0));
        let bound = 1.0 / 28.0;
        assert_eq!(layer.weight.shape(), &[1000, 784]);
        assert!(layer.weight.data().iter().chain(layer.bias.data()).all(|w| w.abs() <= bound));
        // Spread over the whole range, not stuck near zero.
        let max = layer.weight.data().iter().fold(0.0_f32, |m, w| m.max(w.abs()));
        assert!(max > 0.99 * bound);
    }
}

//! Reductions to a scalar: `sum` and `mean`.

use crate::{Float, Function, Tensor, Var};

struct Sum;

impl<F: Float> Function<F> for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        Tensor::scalar(inputs[0].sum())
    }

    // d(sum a)/da_i = 1
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![Some(Tensor::full(inputs[0].shape(), grad.item()))]
    }
}

struct Mean;

impl<F: Float> Function<F> for Mean {
    fn name(&self) -> &'static str {
        "mean"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        let count = F::from_f64(inputs[0].len() as f64);
        Tensor::scalar(inputs[0].sum() / count)
    }

    // d(mean a)/da_i = 1 / n
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        let count = F::from_f64(inputs[0].len() as f64);
        vec![Some(Tensor::full(inputs[0].shape(), grad.item() / count))]
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// The sum of all elements, as a scalar.
    pub fn sum(self) -> Self {
        self.apply(Sum)
    }

    /// The mean of all elements, as a scalar.
    pub fn mean(self) -> Self {
        self.apply(Mean)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    #[test]
    fn sum_and_mean_by_hand() {
        let tape = Tape::new();
        let a = tape.leaf(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]));
        let mean = a.mean();
        assert_eq!(mean.item(), 3.0);
        // d mean/da_i = 1/4
        assert_eq!(mean.backward().get(a).unwrap().data(), &[0.25; 4]);
        // d sum/da_i = 1
        assert_eq!(a.sum().backward().get(a).unwrap().data(), &[1.0; 4]);
    }
}

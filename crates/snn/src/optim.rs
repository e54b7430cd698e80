//! Adam, with PyTorch's semantics.

use autodiff::{Float, Tensor};

/// Adam as `torch.optim.Adam` computes it, without weight decay or AMSGrad.
///
/// At step `k`, for each parameter `p` with gradient `g`:
///
/// ```text
/// m = m + (g - m)(1 - beta1)
/// v = beta2 v + (1 - beta2) g^2
/// p = p - (lr / (1 - beta1^k)) m / (sqrt(v) / sqrt(1 - beta2^k) + eps)
/// ```
///
/// `eps` is added after the bias correction of `sqrt(v)`, as PyTorch does.
#[derive(Clone, Debug)]
pub struct Adam<F> {
    /// Learning rate. Default 5e-4 (Tutorial 5's).
    pub lr: f64,
    /// Decay of the first and second moments. Default (0.9, 0.999).
    pub betas: (f64, f64),
    /// Default 1e-8.
    pub eps: f64,
    step: i32,
    m: Vec<Tensor<F>>,
    v: Vec<Tensor<F>>,
}

impl<F: Float> Default for Adam<F> {
    fn default() -> Self {
        Self::new(5e-4)
    }
}

impl<F: Float> Adam<F> {
    pub fn new(lr: f64) -> Self {
        Self { lr, betas: (0.9, 0.999), eps: 1e-8, step: 0, m: Vec::new(), v: Vec::new() }
    }

    /// The number of steps taken.
    pub fn steps(&self) -> i32 {
        self.step
    }

    /// Updates `params` with `grads`, given in the same order at every call.
    ///
    /// # Panics
    /// When the number of parameters or a shape changes between calls.
    pub fn step(&mut self, params: Vec<&mut Tensor<F>>, grads: &[Tensor<F>]) {
        assert_eq!(params.len(), grads.len(), "Adam::step: {} parameters but {} gradients", params.len(), grads.len());
        if self.m.is_empty() {
            self.m = grads.iter().map(|g| Tensor::zeros(g.shape())).collect();
            self.v = self.m.clone();
        }
        assert_eq!(self.m.len(), params.len(), "Adam::step: the number of parameters changed");
        self.step += 1;

        let (beta1, beta2) = self.betas;
        let bias_correction1 = 1.0 - beta1.powi(self.step);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.step)).sqrt();
        let step_size = F::from_f64(self.lr / bias_correction1);
        let (one_minus_beta1, beta2, one_minus_beta2) =
            (F::from_f64(1.0 - beta1), F::from_f64(beta2), F::from_f64(1.0 - beta2));
        let (bias_correction2_sqrt, eps) = (F::from_f64(bias_correction2_sqrt), F::from_f64(self.eps));

        // ANCHOR: adam_update
        for (((param, grad), m), v) in params.into_iter().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            assert_eq!(param.shape(), grad.shape(), "Adam::step: parameter and gradient shapes differ");
            let values = param.data_mut().iter_mut();
            for (((p, &g), m), v) in values.zip(grad.data()).zip(m.data_mut()).zip(v.data_mut()) {
                *m += (g - *m) * one_minus_beta1;
                *v = beta2 * *v + one_minus_beta2 * g * g;
                let denom = v.sqrt() / bias_correction2_sqrt + eps;
                *p -= step_size * *m / denom;
            }
        }
        // ANCHOR_END: adam_update
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_two_steps_by_hand() {
        let mut adam = Adam::<f64>::new(0.1);
        let mut p = Tensor::from_vec(vec![1.0], &[1]);

        // Step 1, g = 2: m = 0.2, v = 0.004, m_hat = 2, sqrt(v_hat) = 2, p = 1 - 0.1 * 2 / (2 + 1e-8).
        adam.step(vec![&mut p], &[Tensor::from_vec(vec![2.0], &[1])]);
        let p1 = 1.0 - 0.1 * 2.0 / (2.0 + 1e-8);
        assert!((p.item() - p1).abs() < 1e-15);

        // Step 2, g = -1: m = 0.18 - 0.1 = 0.08, v = 0.003996 + 0.001 = 0.004996,
        // p = p1 - (0.1 / 0.19) * 0.08 / (sqrt(0.004996) / sqrt(1 - 0.999^2) + 1e-8).
        adam.step(vec![&mut p], &[Tensor::from_vec(vec![-1.0], &[1])]);
        let denom = 0.004996_f64.sqrt() / (1.0 - 0.999_f64.powi(2)).sqrt() + 1e-8;
        let p2 = p1 - (0.1 / 0.19) * 0.08 / denom;
        assert!((p.item() - p2).abs() < 1e-14, "{} vs {p2}", p.item());
        assert_eq!(adam.steps(), 2);
    }
}

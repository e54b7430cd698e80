//! Adam, with PyTorch's semantics.

use std::sync::Mutex;

use autodiff::{Float, Tensor};

use crate::parallel::run_tasks;

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
        self.step_weighted(params, &[(F::ONE, grads)], 1);
    }

    /// Updates `params` with the gradient `sum of weight * part` over
    /// `parts`, such as the gradients of the slices of a batch, each
    /// weighted by its share of the rows. Large tensors are updated on
    /// `threads` threads. The result does not depend on `threads`.
    ///
    /// # Panics
    /// When `parts` is empty, a part's length or a shape differs from
    /// `params`, or the number of parameters changes between calls.
    pub fn step_weighted(&mut self, params: Vec<&mut Tensor<F>>, parts: &[(F, &[Tensor<F>])], threads: usize) {
        assert!(!parts.is_empty(), "Adam::step: no gradients given");
        for (_, grads) in parts {
            assert_eq!(params.len(), grads.len(), "Adam::step: {} parameters but {} gradients", params.len(), grads.len());
        }
        if self.m.is_empty() {
            self.m = parts[0].1.iter().map(|g| Tensor::zeros(g.shape())).collect();
            self.v = self.m.clone();
        }
        assert_eq!(self.m.len(), params.len(), "Adam::step: the number of parameters changed");
        self.step += 1;
        let rule = Rule::new(self);

        for (i, ((param, m), v)) in params.into_iter().zip(&mut self.m).zip(&mut self.v).enumerate() {
            let grads: Vec<(F, &[F])> = parts
                .iter()
                .map(|(weight, grads)| {
                    assert_eq!(param.shape(), grads[i].shape(), "Adam::step: parameter and gradient shapes differ");
                    (*weight, grads[i].data())
                })
                .collect();
            let (p, m, v) = (param.data_mut(), m.data_mut(), v.data_mut());
            // Threads pay off only for large tensors, such as the tutorial's
            // fc1 weight of 784,000 values, because small ones update in
            // microseconds. A large tensor is cut into four pieces per thread,
            // which the threads take one at a time, so a thread that another
            // program slows down leaves its pieces to the others.
            if threads <= 1 || p.len() < 1 << 16 {
                rule.update(p, m, v, &grads, 0);
                continue;
            }
            let size = p.len().div_ceil(4 * threads);
            let pieces: Vec<Mutex<Piece<'_, F>>> =
                p.chunks_mut(size).zip(m.chunks_mut(size)).zip(v.chunks_mut(size)).map(|((p, m), v)| Mutex::new((p, m, v))).collect();
            run_tasks(pieces.len(), threads, |k| {
                let mut piece = pieces[k].lock().expect("piece lock poisoned, but only its own task ever locks it");
                let (p, m, v) = &mut *piece;
                rule.update(p, m, v, &grads, k * size);
            });
        }
    }
}

/// A slice of one parameter and of its two running means.
type Piece<'a, F> = (&'a mut [F], &'a mut [F], &'a mut [F]);

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct Rule<F> {
    step_size: F,
    one_minus_beta1: F,
    beta2: F,
    one_minus_beta2: F,
    bias_correction2_sqrt: F,
    eps: F,
}

impl<F: Float> Rule<F> {
    fn new(adam: &Adam<F>) -> Self {
        let (beta1, beta2) = adam.betas;
        let bias_correction1 = 1.0 - beta1.powi(adam.step);
        Self {
            step_size: F::from_f64(adam.lr / bias_correction1),
            one_minus_beta1: F::from_f64(1.0 - beta1),
            beta2: F::from_f64(beta2),
            one_minus_beta2: F::from_f64(1.0 - beta2),
            bias_correction2_sqrt: F::from_f64((1.0 - beta2.powi(adam.step)).sqrt()),
            eps: F::from_f64(adam.eps),
        }
    }

    /// Updates the values `offset..offset + p.len()` of one parameter,
    /// given the weighted parts of its whole gradient.
    fn update(&self, p: &mut [F], m: &mut [F], v: &mut [F], grads: &[(F, &[F])], offset: usize) {
        const BLOCK: usize = 1024;
        let Self { step_size, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps } = *self;
        let mut g = [F::ZERO; BLOCK];
        for (start, ((p, m), v)) in (0..).step_by(BLOCK).zip(p.chunks_mut(BLOCK).zip(m.chunks_mut(BLOCK)).zip(v.chunks_mut(BLOCK))) {
            // The gradient of this block, summed from its parts.
            let g = &mut g[..p.len()];
            let at = offset + start;
            g.copy_from_slice(&grads[0].1[at..at + p.len()]);
            let first_weight = grads[0].0;
            if first_weight != F::ONE {
                g.iter_mut().for_each(|g| *g *= first_weight);
            }
            for &(weight, part) in &grads[1..] {
                g.iter_mut().zip(&part[at..at + p.len()]).for_each(|(g, &x)| *g = weight.mul_add(x, *g));
            }

            // ANCHOR: adam_update
            for (((p, &g), m), v) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m += (g - *m) * one_minus_beta1;
                *v = beta2 * *v + one_minus_beta2 * g * g;
                let denom = v.sqrt() / bias_correction2_sqrt + eps;
                *p -= step_size * *m / denom;
            }
            // ANCHOR_END: adam_update
        }
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

    #[test]
    fn weighted_parts_on_threads_equal_one_summed_gradient() {
        // Long enough to be split over threads, with a bias-sized tensor beside it.
        let n = (1 << 16) + 123;
        let values = |seed: f64, len: usize| -> Tensor<f64> {
            Tensor::from_vec((0..len).map(|i| ((i as f64 + seed) * 0.37).sin()).collect(), &[len])
        };
        let (a, b) = ([values(1.0, n), values(2.0, 7)], [values(3.0, n), values(4.0, 7)]);
        // Halves scale exactly, so the hand-made sum is the same number.
        let summed: Vec<Tensor<f64>> = a.iter().zip(&b).map(|(a, b)| a.zip_map(b, "sum", |a, b| 0.5 * a + 0.5 * b)).collect();

        let start = [values(5.0, n), values(6.0, 7)];
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let mut adam = Adam::<f64>::new(1e-3);
            let mut params = start.clone();
            for _ in 0..3 {
                let [p0, p1] = &mut params;
                adam.step_weighted(vec![p0, p1], &[(0.5, &a[..]), (0.5, &b[..])], threads);
            }
            results.push(params);
        }
        let mut adam = Adam::<f64>::new(1e-3);
        let mut reference = start.clone();
        for _ in 0..3 {
            let [p0, p1] = &mut reference;
            adam.step(vec![p0, p1], &summed);
        }
        for params in &results {
            assert_eq!(params, &reference);
        }
        assert_ne!(reference, start, "the steps must move the parameters");
    }
}

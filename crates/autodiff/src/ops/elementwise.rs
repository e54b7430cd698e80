//! Element-by-element ops on values of the same shape.

use crate::{Float, Function, Tensor, Var};

struct Add;

impl<F: Float> Function<F> for Add {
    fn name(&self) -> &'static str {
        "add"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].zip_map(inputs[1], "add", |a, b| a + b)
    }

    // d(a + b)/da = 1, d(a + b)/db = 1
    fn backward(&self, _: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![needs[0].then(|| grad.clone()), needs[1].then(|| grad.clone())]
    }
}

struct Sub;

impl<F: Float> Function<F> for Sub {
    fn name(&self) -> &'static str {
        "sub"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].zip_map(inputs[1], "sub", |a, b| a - b)
    }

    // d(a - b)/da = 1, d(a - b)/db = -1
    fn backward(&self, _: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![needs[0].then(|| grad.clone()), needs[1].then(|| grad.map(|g| -g))]
    }
}

// ANCHOR: mul
struct Mul;

impl<F: Float> Function<F> for Mul {
    fn name(&self) -> &'static str {
        "mul"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].zip_map(inputs[1], "mul", |a, b| a * b)
    }

    // d(a b)/da = b, d(a b)/db = a
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![
            needs[0].then(|| grad.zip_map(inputs[1], "mul backward", |g, b| g * b)),
            needs[1].then(|| grad.zip_map(inputs[0], "mul backward", |g, a| g * a)),
        ]
    }
}
// ANCHOR_END: mul

struct Scale<F> {
    factor: F,
}

impl<F: Float> Function<F> for Scale<F> {
    fn name(&self) -> &'static str {
        "scale"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].map(|a| a * self.factor)
    }

    // d(c a)/da = c
    fn backward(&self, _: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![Some(grad.map(|g| g * self.factor))]
    }
}

struct Exp;

impl<F: Float> Function<F> for Exp {
    fn name(&self) -> &'static str {
        "exp"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].map(F::exp)
    }

    // d exp(a)/da = exp(a), which is the output
    fn backward(&self, _: &[&Tensor<F>], output: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![Some(grad.zip_map(output, "exp backward", |g, y| g * y))]
    }
}

struct Log;

impl<F: Float> Function<F> for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].map(F::ln)
    }

    // d ln(a)/da = 1 / a
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, _: &[bool]) -> Vec<Option<Tensor<F>>> {
        vec![Some(grad.zip_map(inputs[0], "log backward", |g, a| g / a))]
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// `self + other`, element by element; the shapes must match.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Self) -> Self {
        self.tape().apply(Add, &[self, other])
    }

    /// `self - other`, element by element; the shapes must match.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, other: Self) -> Self {
        self.tape().apply(Sub, &[self, other])
    }

    /// `self * other`, element by element; the shapes must match.
    #[allow(clippy::should_implement_trait)]
    pub fn mul(self, other: Self) -> Self {
        self.tape().apply(Mul, &[self, other])
    }

    /// Every element multiplied by the constant `factor`.
    pub fn scale(self, factor: F) -> Self {
        self.apply(Scale { factor })
    }

    /// The natural exponential of every element.
    pub fn exp(self) -> Self {
        self.apply(Exp)
    }

    /// The natural logarithm of every element.
    pub fn log(self) -> Self {
        self.apply(Log)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    fn t(data: &[f64]) -> Tensor<f64> {
        Tensor::from_vec(data.to_vec(), &[data.len()])
    }

    #[test]
    fn add_sub_mul_scale_by_hand() {
        let tape = Tape::new();
        let a = tape.leaf(t(&[1.0, 2.0]));
        let b = tape.leaf(t(&[3.0, -4.0]));
        // L = sum(2 (a b) + a - b)
        // dL/da = 2 b + 1 = [7, -7]; dL/db = 2 a - 1 = [1, 3]
        let loss = a.mul(b).scale(2.0).add(a).sub(b).sum();
        assert_eq!(loss.item(), 2.0 * (3.0 - 8.0) + 3.0 - (-1.0));
        let grads = loss.backward();
        assert_eq!(grads.get(a).unwrap().data(), &[7.0, -7.0]);
        assert_eq!(grads.get(b).unwrap().data(), &[1.0, 3.0]);
    }

    #[test]
    fn exp_and_log_by_hand() {
        let tape = Tape::new();
        let a = tape.leaf(t(&[0.0, 1.0]));
        let b = tape.leaf(t(&[2.0, 4.0]));
        // d exp(a)/da = exp(a); d ln(b)/db = 1 / b
        let grads = a.exp().add(b.log()).sum().backward();
        assert_eq!(grads.get(a).unwrap().data(), &[1.0, 1.0_f64.exp()]);
        assert_eq!(grads.get(b).unwrap().data(), &[0.5, 0.25]);
    }

    #[test]
    fn value_used_twice_gets_both_gradients() {
        let tape = Tape::new();
        let a = tape.leaf(t(&[3.0]));
        // L = a * a + a: two uses in mul and one in add; dL/da = 2a + 1 = 7
        let grads = a.mul(a).add(a).sum().backward();
        assert_eq!(grads.get(a).unwrap().data(), &[7.0]);
    }

    #[test]
    fn equal_leaves_keep_separate_gradients() {
        let tape = Tape::new();
        let a = tape.leaf(t(&[2.0]));
        let b = tape.leaf(t(&[2.0]));
        // L = a * 3 + b * 5
        let grads = a.scale(3.0).add(b.scale(5.0)).sum().backward();
        assert_eq!(grads.get(a).unwrap().data(), &[3.0]);
        assert_eq!(grads.get(b).unwrap().data(), &[5.0]);
    }

    #[test]
    fn detach_stops_the_gradient() {
        let tape = Tape::new();
        let a = tape.leaf(t(&[2.0]));
        // L = a * detach(a): only the first factor carries a gradient, so dL/da = a = 2
        let grads = a.mul(a.detach()).sum().backward();
        assert_eq!(grads.get(a).unwrap().data(), &[2.0]);
    }

    #[test]
    #[should_panic(expected = "add: shape mismatch, [2] vs [3]")]
    fn add_shape_mismatch_panics_with_shapes() {
        let tape = Tape::new();
        tape.leaf(t(&[1.0, 2.0])).add(tape.leaf(t(&[1.0, 2.0, 3.0])));
    }
}

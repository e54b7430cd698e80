//! Matrix products: `matmul` and the fused `linear` (x W^T + b).

use crate::{Float, Function, Tensor, Var};

use super::narrow;

/// Whether an operand of [`gemm`] is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    No,
    Yes,
}

/// Computes `C = op(A) op(B) + beta * C`, where `op` transposes its operand
/// or not, with `matrixmultiply`'s kernel. A transposed operand is read
/// through swapped strides, never copied.
///
/// # Panics
/// When the shapes do not fit; `op_name` and the shapes are in the message.
pub fn gemm<F: Float>(
    op_name: &str,
    a: &Tensor<F>,
    transpose_a: Transpose,
    b: &Tensor<F>,
    transpose_b: Transpose,
    beta: F,
    c: &mut Tensor<F>,
) {
    let (a_rows, a_cols) = a.dims2(op_name);
    let (b_rows, b_cols) = b.dims2(op_name);
    let (m, k, rsa, csa) = match transpose_a {
        Transpose::No => (a_rows, a_cols, a_cols as isize, 1),
        Transpose::Yes => (a_cols, a_rows, 1, a_cols as isize),
    };
    let (k2, n, rsb, csb) = match transpose_b {
        Transpose::No => (b_rows, b_cols, b_cols as isize, 1),
        Transpose::Yes => (b_cols, b_rows, 1, b_cols as isize),
    };
    assert!(
        k == k2,
        "{op_name}: inner dimensions differ, {:?}{} x {:?}{}",
        a.shape(),
        if transpose_a == Transpose::Yes { "^T" } else { "" },
        b.shape(),
        if transpose_b == Transpose::Yes { "^T" } else { "" },
    );
    assert!(
        c.shape() == [m, n],
        "{op_name}: output shape {:?} should be [{m}, {n}] for {:?} x {:?}",
        c.shape(),
        a.shape(),
        b.shape()
    );
    // SAFETY: the asserts above check that A is m x k, B is k x n and C is
    // m x n under the given strides; C is a distinct, exclusively borrowed
    // buffer.
    unsafe {
        F::gemm(
            m,
            k,
            n,
            F::ONE,
            a.data().as_ptr(),
            rsa,
            csa,
            b.data().as_ptr(),
            rsb,
            csb,
            beta,
            c.data_mut().as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Returns `op(A) op(B)` in a new tensor.
pub fn product<F: Float>(op_name: &str, a: &Tensor<F>, ta: Transpose, b: &Tensor<F>, tb: Transpose) -> Tensor<F> {
    let (a_rows, a_cols) = a.dims2(op_name);
    let (b_rows, b_cols) = b.dims2(op_name);
    let m = if ta == Transpose::No { a_rows } else { a_cols };
    let n = if tb == Transpose::No { b_cols } else { b_rows };
    let mut c = Tensor::zeros(&[m, n]);
    gemm(op_name, a, ta, b, tb, F::ZERO, &mut c);
    c
}

/// `C = A B` for `A: [m, k]`, `B: [k, n]`.
struct MatMul;

impl<F: Float> Function<F> for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        product("matmul", inputs[0], Transpose::No, inputs[1], Transpose::No)
    }

    // dA = G B^T,  dB = A^T G
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (a, b) = (inputs[0], inputs[1]);
        vec![
            needs[0].then(|| product("matmul backward", grad, Transpose::No, b, Transpose::Yes)),
            needs[1].then(|| product("matmul backward", a, Transpose::Yes, grad, Transpose::No)),
        ]
    }
}

/// `Y = X W^T + b` for `X: [batch, in]`, `W: [out, in]` (PyTorch's layout)
/// and `b: [out]`, added to every row.
pub struct Linear;

impl Linear {
    /// The forward rule on plain tensors, shared by the tape and by
    /// inference without a tape.
    pub fn compute<F: Float>(x: &Tensor<F>, weight: &Tensor<F>, bias: &Tensor<F>) -> Tensor<F> {
        let (out, _) = weight.dims2("linear");
        assert!(
            bias.shape() == [out],
            "linear: bias shape {:?} does not match weight shape {:?}",
            bias.shape(),
            weight.shape()
        );
        let (batch, inputs) = x.dims2("linear");
        let mut y = Tensor::zeros(&[batch, out]);
        for row in y.data_mut().chunks_exact_mut(out) {
            row.copy_from_slice(bias.data());
        }
        if out <= NARROW {
            assert!(
                weight.shape()[1] == inputs,
                "linear: input shape {:?} does not fit weight shape {:?}",
                x.shape(),
                weight.shape()
            );
            narrow::add_product(x.data(), weight.data(), y.data_mut(), out);
        } else {
            gemm("linear", x, Transpose::No, weight, Transpose::Yes, F::ONE, &mut y);
        }
        y
    }
}

/// Output width up to which [`Linear`] uses its own loops instead of
/// `matrixmultiply`. The kernel packs the wide operand into a buffer
/// first, and with ten outputs (the tutorial's second layer) that copy
/// costs about as much as the product itself.
pub const NARROW: usize = 16;

impl<F: Float> Function<F> for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        Self::compute(inputs[0], inputs[1], inputs[2])
    }

    // dX = G W,  dW = G^T X,  db = sum of G over the batch (the bias was
    // broadcast to every row, so every row's gradient reaches it)
    fn backward(&self, inputs: &[&Tensor<F>], _: &Tensor<F>, grad: &Tensor<F>, needs: &[bool]) -> Vec<Option<Tensor<F>>> {
        let (x, weight) = (inputs[0], inputs[1]);
        let grad_bias = needs[2].then(|| {
            let (_, out) = grad.dims2("linear backward");
            let mut sum = Tensor::zeros(&[out]);
            for row in grad.data().chunks_exact(out) {
                for (s, &g) in sum.data_mut().iter_mut().zip(row) {
                    *s += g;
                }
            }
            sum
        });
        let (out, _) = weight.dims2("linear backward");
        if out > NARROW {
            return vec![
                needs[0].then(|| product("linear backward", grad, Transpose::No, weight, Transpose::No)),
                needs[1].then(|| product("linear backward", grad, Transpose::Yes, x, Transpose::No)),
                grad_bias,
            ];
        }

        // Narrow layers: each row of dX is a sum of `out` weight rows, and
        // each row of dW a sum over the batch of input rows.
        let grad_x = needs[0].then(|| {
            let mut dx = Tensor::zeros(x.shape());
            narrow::input_grad(grad.data(), weight.data(), dx.data_mut(), out);
            dx
        });
        let grad_weight = needs[1].then(|| {
            let mut dw = Tensor::zeros(weight.shape());
            narrow::add_weight_grad(grad.data(), x.data(), dw.data_mut(), out);
            dw
        });
        vec![grad_x, grad_weight, grad_bias]
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// The matrix product `self @ other` of two 2-D values.
    pub fn matmul(self, other: Self) -> Self {
        self.tape().apply(MatMul, &[self, other])
    }

    /// `self W^T + b`: a fully connected layer with PyTorch's weight layout
    /// `[out, in]`.
    pub fn linear(self, weight: Self, bias: Self) -> Self {
        self.tape().apply(Linear, &[self, weight, bias])
    }
}

#[cfg(test)]
mod tests {
    use crate::{Tape, Tensor};

    fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    #[test]
    fn matmul_forward_and_backward_by_hand() {
        let tape = Tape::new();
        let a = tape.leaf(t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
        let b = tape.leaf(t(&[5.0, 6.0, 7.0, 8.0], &[2, 2]));
        let c = a.matmul(b);
        assert_eq!(c.value().data(), &[19.0, 22.0, 43.0, 50.0]);

        // L = sum(A B); dL/dA = 1 B^T: row i of dA holds the row sums of B,
        // dL/dB = A^T 1: row j of dB holds the column sum j of A.
        let grads = c.sum().backward();
        assert_eq!(grads.get(a).unwrap().data(), &[11.0, 15.0, 11.0, 15.0]);
        assert_eq!(grads.get(b).unwrap().data(), &[4.0, 4.0, 6.0, 6.0]);
    }

    #[test]
    fn linear_by_hand_with_bias_summed_over_batch() {
        let tape = Tape::new();
        let x = tape.constant(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
        let w = tape.leaf(t(&[1.0, 0.0, -1.0, 2.0, 1.0, 0.0], &[2, 3]));
        let b = tape.leaf(t(&[0.5, -0.5], &[2]));
        let y = x.linear(w, b);
        // Row 0: [1 - 3 + 0.5, 2 + 2 - 0.5]; row 1: [4 - 6 + 0.5, 8 + 5 - 0.5].
        assert_eq!(y.value().data(), &[-1.5, 3.5, -1.5, 12.5]);

        // L = sum(Y): dW[o, i] = sum over the batch of X[b, i]; db[o] = batch size.
        let grads = y.sum().backward();
        assert_eq!(grads.get(w).unwrap().data(), &[5.0, 7.0, 9.0, 5.0, 7.0, 9.0]);
        assert_eq!(grads.get(b).unwrap().data(), &[2.0, 2.0]);
        assert!(grads.get(x).is_none(), "a constant input gets no gradient");
    }

    #[test]
    #[should_panic(expected = "matmul: inner dimensions differ, [2, 3] x [2, 3]")]
    fn matmul_shape_mismatch_names_op_and_shapes() {
        let tape = Tape::new();
        let a = tape.leaf(Tensor::<f64>::zeros(&[2, 3]));
        let b = tape.leaf(Tensor::<f64>::zeros(&[2, 3]));
        a.matmul(b);
    }
}

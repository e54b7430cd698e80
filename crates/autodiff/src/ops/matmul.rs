//! Matrix products: `matmul` and the fused `linear` (x W^T + b).

use crate::{Float, Function, Tensor, Var};

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

/// The loops of narrow layers (up to [`NARROW`] outputs) on plain
/// slices, shared by [`Linear`] and by fused ops that end in a narrow
/// layer. `weight` is `[out, inputs]` in every function.
pub mod narrow {
    use crate::Float;

    /// `Y += X W^T` for `X: [rows, inputs]` and `Y: [rows, out]`: one dot
    /// product per output.
    pub fn add_product<F: Float>(x: &[F], weight: &[F], y: &mut [F], out: usize) {
        let inputs = weight.len() / out;
        if out == 10 {
            add_product_n::<F, 10>(x, weight, y, inputs);
            return;
        }
        for (x_row, y_row) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(out)) {
            for (y, w_row) in y_row.iter_mut().zip(weight.chunks_exact(inputs)) {
                *y += dot(x_row, w_row);
            }
        }
    }

    /// `dX = G W` for `G: [rows, out]`, overwriting `dx: [rows, inputs]`.
    pub fn input_grad<F: Float>(grad: &[F], weight: &[F], dx: &mut [F], out: usize) {
        let inputs = weight.len() / out;
        if out == 10 {
            input_grad_n::<F, 10>(grad, weight, dx, inputs);
            return;
        }
        dx.fill(F::ZERO);
        for (dx_row, g_row) in dx.chunks_exact_mut(inputs).zip(grad.chunks_exact(out)) {
            for (&g, w_row) in g_row.iter().zip(weight.chunks_exact(inputs)) {
                axpy(g, w_row, dx_row);
            }
        }
    }

    /// `dW += G^T X` for `G: [rows, out]` and `X: [rows, inputs]`.
    pub fn add_weight_grad<F: Float>(grad: &[F], x: &[F], dw: &mut [F], out: usize) {
        let inputs = dw.len() / out;
        if out == 10 {
            weight_grad_n::<F, 10>(grad, x, dw, inputs);
            return;
        }
        for (x_row, g_row) in x.chunks_exact(inputs).zip(grad.chunks_exact(out)) {
            for (&g, dw_row) in g_row.iter().zip(dw.chunks_exact_mut(inputs)) {
                axpy(g, x_row, dw_row);
            }
        }
    }

    /// The dot product, summed in 16 lanes so that the loop vectorizes.
    pub fn dot<F: Float>(a: &[F], b: &[F]) -> F {
        const LANES: usize = 16;
        let mut lanes = [F::ZERO; LANES];
        let (a_chunks, a_rest) = a.as_chunks::<LANES>();
        let (b_chunks, b_rest) = b.as_chunks::<LANES>();
        for (a, b) in a_chunks.iter().zip(b_chunks) {
            for l in 0..LANES {
                lanes[l] = a[l].mul_add(b[l], lanes[l]);
            }
        }
        let tail: F = a_rest.iter().zip(b_rest).map(|(&a, &b)| a * b).sum();
        lanes.iter().copied().sum::<F>() + tail
    }

    /// `Y += X W^T` for `W: [N, inputs]`, two rows of X at a time. Each
    /// block of 16 columns of W is loaded once for both rows, and the 2N
    /// running sums are independent, so the multiply-adds do not wait on
    /// each other as they do in one dot product after another.
    fn add_product_n<F: Float, const N: usize>(x: &[F], weight: &[F], y: &mut [F], inputs: usize) {
        const LANES: usize = 16;
        let w_rows: [&[F]; N] = std::array::from_fn(|o| &weight[o * inputs..(o + 1) * inputs]);
        let blocks = inputs / LANES;
        let pairs = x.chunks_exact(2 * inputs).zip(y.chunks_exact_mut(2 * N));
        for (x_pair, y_pair) in pairs {
            let (xa, xb) = x_pair.split_at(inputs);
            let mut sa = [[F::ZERO; LANES]; N];
            let mut sb = [[F::ZERO; LANES]; N];
            for b in 0..blocks {
                let a: &[F; LANES] = xa[b * LANES..(b + 1) * LANES].try_into().expect("block of LANES");
                let c: &[F; LANES] = xb[b * LANES..(b + 1) * LANES].try_into().expect("block of LANES");
                for o in 0..N {
                    let w: &[F; LANES] = w_rows[o][b * LANES..(b + 1) * LANES].try_into().expect("block of LANES");
                    for l in 0..LANES {
                        sa[o][l] = w[l].mul_add(a[l], sa[o][l]);
                        sb[o][l] = w[l].mul_add(c[l], sb[o][l]);
                    }
                }
            }
            let start = blocks * LANES;
            let (ya, yb) = y_pair.split_at_mut(N);
            for o in 0..N {
                let tail = |x: &[F]| -> F { x[start..].iter().zip(&w_rows[o][start..]).map(|(&x, &w)| x * w).sum() };
                ya[o] += sa[o].iter().copied().sum::<F>() + tail(xa);
                yb[o] += sb[o].iter().copied().sum::<F>() + tail(xb);
            }
        }
        let done = x.len() / (2 * inputs) * 2;
        for (x_row, y_row) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(N)).skip(done) {
            for (y, w_row) in y_row.iter_mut().zip(&w_rows) {
                *y += dot(x_row, w_row);
            }
        }
    }

    /// `dX = G W` for `G: [rows, N]` and `W: [N, inputs]`, written once per
    /// element: each block of 16 columns of a dX row is summed over the N
    /// weight rows in registers, instead of N read-modify-write passes.
    fn input_grad_n<F: Float, const N: usize>(grad: &[F], weight: &[F], dx: &mut [F], inputs: usize) {
        const LANES: usize = 16;
        let w_rows: [&[F]; N] = std::array::from_fn(|o| &weight[o * inputs..(o + 1) * inputs]);
        for (dx_row, g) in dx.chunks_exact_mut(inputs).zip(grad.chunks_exact(N)) {
            let g: [F; N] = std::array::from_fn(|o| g[o]);
            let (blocks, rest) = dx_row.as_chunks_mut::<LANES>();
            for (b, block) in blocks.iter_mut().enumerate() {
                let mut sum = [F::ZERO; LANES];
                for o in 0..N {
                    let w: &[F; LANES] = w_rows[o][b * LANES..(b + 1) * LANES].try_into().expect("block of LANES");
                    for l in 0..LANES {
                        sum[l] = g[o].mul_add(w[l], sum[l]);
                    }
                }
                *block = sum;
            }
            let start = blocks.len() * LANES;
            for (k, d) in rest.iter_mut().enumerate() {
                *d = (0..N).map(|o| g[o] * w_rows[o][start + k]).sum();
            }
        }
    }

    /// `dW = G^T X` for `G: [rows, N]` and `X: [rows, inputs]`. Rows are
    /// taken in groups of 32; within a group, each block of 16 columns keeps
    /// its N sums in registers, and dW is read and written once per group.
    fn weight_grad_n<F: Float, const N: usize>(grad: &[F], x: &[F], dw: &mut [F], inputs: usize) {
        const LANES: usize = 16;
        const GROUP: usize = 32;
        let blocks = inputs / LANES;
        let x_rows: Vec<&[F]> = x.chunks_exact(inputs).collect();
        let g_rows: Vec<&[F]> = grad.chunks_exact(N).collect();
        for (x_group, g_group) in x_rows.chunks(GROUP).zip(g_rows.chunks(GROUP)) {
            for b in 0..blocks {
                let mut sums = [[F::ZERO; LANES]; N];
                for (x_row, g) in x_group.iter().zip(g_group) {
                    let x_block: &[F; LANES] = x_row[b * LANES..(b + 1) * LANES].try_into().expect("block of LANES");
                    for o in 0..N {
                        let g = g[o];
                        for l in 0..LANES {
                            sums[o][l] = g.mul_add(x_block[l], sums[o][l]);
                        }
                    }
                }
                for (o, sum) in sums.iter().enumerate() {
                    let target = &mut dw[o * inputs + b * LANES..o * inputs + (b + 1) * LANES];
                    for (t, &v) in target.iter_mut().zip(sum) {
                        *t += v;
                    }
                }
            }
            for k in blocks * LANES..inputs {
                for o in 0..N {
                    let sum: F = x_group.iter().zip(g_group).map(|(x_row, g)| g[o] * x_row[k]).sum();
                    dw[o * inputs + k] += sum;
                }
            }
        }
    }

    /// `y += alpha * x`.
    pub fn axpy<F: Float>(alpha: F, x: &[F], y: &mut [F]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y += alpha * x;
        }
    }

}

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

//! The loops of narrow layers, up to [`super::matmul::NARROW`] outputs, on
//! plain slices: shared by [`super::matmul::Linear`] and by fused ops that
//! end in a narrow layer, such as the ten outputs of the tutorial's
//! network. `weight` is `[out, inputs]` in every function.
//!
//! A general matrix product first copies the wide operand into a packed
//! buffer, which for ten outputs costs about as much as the product. These
//! loops read the operands where they are. For ten outputs in `f32` on a
//! processor with AVX-512 they call the `avx512` module's kernels, written with the
//! processor's vector instructions, because the compiler vectorizes the
//! generic loops well in one build and badly in another.

use crate::Float;

/// `Y += X W^T` for `X: [rows, inputs]` and `Y: [rows, out]`: one dot
/// product per output.
pub fn add_product<F: Float>(x: &[F], weight: &[F], y: &mut [F], out: usize) {
    let inputs = weight.len() / out;
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if out == 10
        && let (Some(x), Some(weight), Some(y)) = (F::as_f32(x), F::as_f32(weight), F::as_f32_mut(y))
    {
        // SAFETY: the cfg above keeps this call out of builds that do not
        // target AVX-512.
        unsafe { avx512::add_product(x, weight, y, inputs); }
        return;
    }
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
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if out == 10
        && let (Some(grad), Some(weight), Some(dx)) = (F::as_f32(grad), F::as_f32(weight), F::as_f32_mut(dx))
    {
        // SAFETY: the cfg above keeps this call out of builds that do not
        // target AVX-512.
        unsafe { avx512::input_grad(grad, weight, dx, inputs); }
        return;
    }
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
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if out == 10
        && let (Some(grad), Some(x), Some(dw)) = (F::as_f32(grad), F::as_f32(x), F::as_f32_mut(dw))
    {
        // SAFETY: the cfg above keeps this call out of builds that do not
        // target AVX-512.
        unsafe { avx512::add_weight_grad(grad, x, dw, inputs); }
        return;
    }
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

/// Returns the dot product, summed in 16 lanes so that the loop vectorizes.
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


/// The ten-output loops in `f32` with AVX-512: 16 lanes per register and
/// 32 registers, enough to keep ten running sums per row in registers.
/// A block of 16 columns that runs past the end of a row is loaded and
/// stored with a lane mask, so no row needs a scalar tail.
///
/// The kernels carry `#[target_feature(enable = "avx512f")]`, so calling
/// them is `unsafe`: the caller must run on a processor with AVX-512. The
/// module exists only in builds that target one, which makes every call
/// from this file sound.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod avx512 {
    use std::arch::x86_64::{
        __m512, __mmask16, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
        _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    const N: usize = 10;
    const LANES: usize = 16;

    /// Returns the mask of the lanes that take the first `len` values of a
    /// block.
    #[inline(always)]
    fn mask(len: usize) -> __mmask16 {
        if len >= LANES { 0xFFFF } else { ((1_u32 << len) - 1) as __mmask16 }
    }

    /// Loads `values` (at most 16) into a register, zero in the lanes past
    /// the end.
    #[inline(always)]
    fn load(values: &[f32]) -> __m512 {
        // SAFETY: the mask covers exactly `values.len()` lanes, all inside
        // the slice; a masked load neither reads nor faults on the others.
        unsafe { _mm512_maskz_loadu_ps(mask(values.len()), values.as_ptr()) }
    }

    /// Stores the first `target.len()` lanes of `v` (at most 16).
    #[inline(always)]
    fn store(target: &mut [f32], v: __m512) {
        // SAFETY: as for `load`; only the lanes inside the slice are written.
        unsafe { _mm512_mask_storeu_ps(target.as_mut_ptr(), mask(target.len()), v) }
    }

    /// Returns the column ranges of the 16-wide blocks of a row of `inputs`
    /// values.
    fn blocks(inputs: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        (0..inputs).step_by(LANES).map(move |start| start..(start + LANES).min(inputs))
    }

    /// `Y += X W^T` for `W: [10, inputs]`, two rows of X at a time: each
    /// block of W is loaded once for both rows, into 20 running sums.
    #[target_feature(enable = "avx512f")]
    pub fn add_product(x: &[f32], weight: &[f32], y: &mut [f32], inputs: usize) {
        let w: [&[f32]; N] = std::array::from_fn(|o| &weight[o * inputs..(o + 1) * inputs]);
        let pairs = x.chunks_exact(2 * inputs).zip(y.chunks_exact_mut(2 * N));
        for (x_pair, y_pair) in pairs {
            let (xa, xb) = x_pair.split_at(inputs);
            let (ya, yb) = y_pair.split_at_mut(N);
            product_rows([xa, xb], &w, [ya, yb]);
        }
        let done = x.len() / (2 * inputs) * 2;
        for (x_row, y_row) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(N)).skip(done) {
            product_rows([x_row], &w, [y_row]);
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn product_rows<const R: usize>(xs: [&[f32]; R], w: &[&[f32]; N], ys: [&mut [f32]; R]) {
        let mut sums = [[_mm512_setzero_ps(); N]; R];
        for cols in blocks(w[0].len()) {
            let xv: [__m512; R] = std::array::from_fn(|r| load(&xs[r][cols.clone()]));
            for o in 0..N {
                let wv = load(&w[o][cols.clone()]);
                for r in 0..R {
                    sums[r][o] = _mm512_fmadd_ps(wv, xv[r], sums[r][o]);
                }
            }
        }
        for (y, sums) in ys.into_iter().zip(&sums) {
            for o in 0..N {
                y[o] += _mm512_reduce_add_ps(sums[o]);
            }
        }
    }

    /// `dX = G W` for `G: [rows, 10]`, overwriting `dx`. Each block of the
    /// ten weight rows stays in registers while every row of dX takes its
    /// block from it.
    #[target_feature(enable = "avx512f")]
    pub fn input_grad(grad: &[f32], weight: &[f32], dx: &mut [f32], inputs: usize) {
        let rows = dx.len() / inputs;
        for cols in blocks(inputs) {
            let w: [__m512; N] = std::array::from_fn(|o| load(&weight[o * inputs + cols.start..o * inputs + cols.end]));
            for r in 0..rows {
                let g = &grad[r * N..(r + 1) * N];
                // Two sums, so that each waits on five multiply-adds, not ten.
                let mut even = _mm512_mul_ps(_mm512_set1_ps(g[0]), w[0]);
                let mut odd = _mm512_mul_ps(_mm512_set1_ps(g[1]), w[1]);
                for o in (2..N).step_by(2) {
                    even = _mm512_fmadd_ps(_mm512_set1_ps(g[o]), w[o], even);
                    odd = _mm512_fmadd_ps(_mm512_set1_ps(g[o + 1]), w[o + 1], odd);
                }
                store(&mut dx[r * inputs + cols.start..r * inputs + cols.end], _mm512_add_ps(even, odd));
            }
        }
    }

    /// `dW += G^T X` for `G: [rows, 10]` and `X: [rows, inputs]`. Each
    /// block of the ten rows of dW stays in registers while every row of X
    /// adds to it, so dW is read and written once.
    #[target_feature(enable = "avx512f")]
    pub fn add_weight_grad(grad: &[f32], x: &[f32], dw: &mut [f32], inputs: usize) {
        let rows = x.len() / inputs;
        for cols in blocks(inputs) {
            let mut sums: [__m512; N] = std::array::from_fn(|o| load(&dw[o * inputs + cols.start..o * inputs + cols.end]));
            for r in 0..rows {
                let xv = load(&x[r * inputs + cols.start..r * inputs + cols.end]);
                let g = &grad[r * N..(r + 1) * N];
                for o in 0..N {
                    sums[o] = _mm512_fmadd_ps(_mm512_set1_ps(g[o]), xv, sums[o]);
                }
            }
            for (o, sum) in sums.into_iter().enumerate() {
                store(&mut dw[o * inputs + cols.start..o * inputs + cols.end], sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-1, 1) from a small linear congruential generator, with
    /// a share of exact zeros like the spikes of a layer.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let v = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                if v.abs() < 0.2 { 0.0 } else { v }
            })
            .collect()
    }

    fn assert_near(context: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{context}: lengths");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(g) - w).abs() <= 1e-5 * (1.0 + w.abs()), "{context}[{i}]: {g} vs {w}");
        }
    }

    /// The ten-output loops in f32 (the vector kernels where the build
    /// has AVX-512) against sums in f64, for rows and widths that leave
    /// partial blocks and an odd row.
    #[test]
    fn ten_output_loops_match_f64_sums() {
        const OUT: usize = 10;
        for inputs in [1, 5, 16, 17, 33, 1000] {
            for rows in [1, 2, 3, 25] {
                let x = values(rows * inputs, 1);
                let w = values(OUT * inputs, 2);
                let g = values(rows * OUT, 3);
                let wide = |v: &[f32]| -> Vec<f64> { v.iter().map(|&v| f64::from(v)).collect() };
                let (xd, wd, gd) = (wide(&x), wide(&w), wide(&g));
                let case = format!("inputs {inputs}, rows {rows}");

                let mut y = values(rows * OUT, 4);
                let mut want: Vec<f64> = wide(&y);
                for r in 0..rows {
                    for o in 0..OUT {
                        want[r * OUT + o] += (0..inputs).map(|k| xd[r * inputs + k] * wd[o * inputs + k]).sum::<f64>();
                    }
                }
                add_product(&x, &w, &mut y, OUT);
                assert_near(&format!("product, {case}"), &y, &want);

                let mut dx = vec![f32::NAN; rows * inputs];
                let want: Vec<f64> = (0..rows * inputs)
                    .map(|i| (0..OUT).map(|o| gd[(i / inputs) * OUT + o] * wd[o * inputs + i % inputs]).sum())
                    .collect();
                input_grad(&g, &w, &mut dx, OUT);
                assert_near(&format!("input gradient, {case}"), &dx, &want);

                let mut dw = values(OUT * inputs, 5);
                let mut want = wide(&dw);
                for (i, want) in want.iter_mut().enumerate() {
                    *want += (0..rows).map(|r| gd[r * OUT + i / inputs] * xd[r * inputs + i % inputs]).sum::<f64>();
                }
                add_weight_grad(&g, &x, &mut dw, OUT);
                assert_near(&format!("weight gradient, {case}"), &dw, &want);
            }
        }
    }
}

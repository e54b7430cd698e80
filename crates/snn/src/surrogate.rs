//! Surrogate gradients: the smooth derivatives that stand in for the
//! Heaviside step's in the backward pass.
//!
//! Each shape is a function of `x = U - threshold`. Names and defaults follow
//! snnTorch's `surrogate` module (snnTorch 1.0).

use autodiff::{ATan, Float, Surrogate};

/// The surrogate gradient of a spiking layer (snnTorch's `spike_grad`).
#[derive(Clone, Copy, Debug)]
pub enum SpikeGrad {
    /// `(alpha / 2) / (1 + (pi * alpha * x / 2)^2)`; snnTorch's default,
    /// `alpha = 2.0`.
    ATan { alpha: f64 },
    /// `1 / (slope * |x| + 1)^2`; snnTorch's default `slope = 25.0`.
    FastSigmoid { slope: f64 },
    /// `slope * e^(-slope x) / (e^(-slope x) + 1)^2`; snnTorch's default
    /// `slope = 25.0`.
    ///
    /// Computed with `e = e^(-slope |x|)` in place of `e^(-slope x)`, which
    /// gives the same function (it is even in x) but never overflows. The
    /// direct form that snnTorch evaluates overflows to `inf / inf = NaN` in
    /// f32 for `x` below about -3.6, and in f64 below about -28.4.
    Sigmoid { slope: f64 },
    /// snnTorch 1.0's `triangular(threshold=1)`: `threshold` for `x < 0` and
    /// `-threshold` for `x >= 0`, a signed constant despite the name.
    /// `threshold` is this surrogate's own scale, not the layer's firing
    /// threshold.
    Triangular { threshold: f64 },
    /// snnTorch's `straight_through_estimator()`: the gradient passes
    /// unchanged, `1` everywhere.
    StraightThrough,
    /// A surrogate of the user's own: `grad(x)` is `dS/dU` at
    /// `x = U - threshold`, computed in f64 whatever the training float.
    /// snnTorch's counterpart is a custom `torch.autograd.Function`.
    Custom { name: &'static str, grad: fn(f64) -> f64 },
}

impl PartialEq for SpikeGrad {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Self::ATan { alpha: a }, Self::ATan { alpha: b }) => a == b,
            (Self::FastSigmoid { slope: a }, Self::FastSigmoid { slope: b }) => a == b,
            (Self::Sigmoid { slope: a }, Self::Sigmoid { slope: b }) => a == b,
            (Self::Triangular { threshold: a }, Self::Triangular { threshold: b }) => a == b,
            (Self::StraightThrough, Self::StraightThrough) => true,
            (Self::Custom { name: a, grad: f }, Self::Custom { name: b, grad: g }) => a == b && std::ptr::fn_addr_eq(f, g),
            _ => false,
        }
    }
}

impl SpikeGrad {
    /// ATan with snnTorch's default `alpha = 2.0`.
    pub fn atan() -> Self {
        Self::ATan { alpha: 2.0 }
    }

    /// Fast sigmoid with snnTorch's default `slope = 25.0`.
    pub fn fast_sigmoid() -> Self {
        Self::FastSigmoid { slope: 25.0 }
    }

    /// Sigmoid with snnTorch's default `slope = 25.0`.
    pub fn sigmoid() -> Self {
        Self::Sigmoid { slope: 25.0 }
    }

    /// Triangular with snnTorch's default `threshold = 1.0`.
    pub fn triangular() -> Self {
        Self::Triangular { threshold: 1.0 }
    }
}

impl Default for SpikeGrad {
    fn default() -> Self {
        Self::atan()
    }
}

// ANCHOR: spike_grad
impl<F: Float> Surrogate<F> for SpikeGrad {
    fn grad(&self, x: F) -> F {
        match *self {
            Self::ATan { alpha } => ATan { alpha }.grad(x),
            Self::FastSigmoid { slope } => {
                let denom = F::from_f64(slope) * x.abs() + F::ONE;
                F::ONE / (denom * denom)
            }
            Self::Sigmoid { slope } => {
                let slope = F::from_f64(slope);
                let e = (-(slope * x.abs())).exp();
                slope * e / ((e + F::ONE) * (e + F::ONE))
            }
            Self::Triangular { threshold } => {
                let threshold = F::from_f64(threshold);
                if x >= F::ZERO { -threshold } else { threshold }
            }
            Self::StraightThrough => F::ONE,
            Self::Custom { grad, .. } => F::from_f64(grad(x.to_f64())),
        }
    }
}
// ANCHOR_END: spike_grad

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_surrogate_is_called_with_distance_to_threshold() {
        // A boxcar of width 1 around the threshold.
        let boxcar = SpikeGrad::Custom { name: "boxcar", grad: |x| if x.abs() < 0.5 { 1.0 } else { 0.0 } };
        assert_eq!(Surrogate::<f32>::grad(&boxcar, 0.25), 1.0);
        assert_eq!(Surrogate::<f64>::grad(&boxcar, -0.75), 0.0);
        assert_eq!(boxcar, boxcar);
        assert_ne!(boxcar, SpikeGrad::StraightThrough);
    }

    #[test]
    fn peaks_at_the_threshold() {
        let at_zero = |s: SpikeGrad| Surrogate::<f64>::grad(&s, 0.0);
        assert_eq!(at_zero(SpikeGrad::atan()), 1.0);
        assert_eq!(at_zero(SpikeGrad::fast_sigmoid()), 1.0);
        // slope / 4
        assert_eq!(at_zero(SpikeGrad::sigmoid()), 6.25);
    }

    #[test]
    fn sigmoid_equals_direct_form_where_finite() {
        // Below x = -14 the square in the direct form overflows in f64, so
        // it returns 0 and then NaN.
        let slope = 25.0_f64;
        for x in [-14.0, -3.0, -1.0, -0.1, -1e-9, 0.0, 1e-9, 0.1, 1.0, 3.0, 14.0, 28.0] {
            let direct = slope * (-slope * x).exp() / ((-slope * x).exp() + 1.0).powi(2);
            let ours: f64 = SpikeGrad::sigmoid().grad(x);
            assert!((ours - direct).abs() <= 1e-14 * direct, "at {x}: {ours:e} vs {direct:e}");
        }
    }

    #[test]
    fn sigmoid_stays_finite_where_direct_form_is_nan() {
        // In f32, e^(25 * 4) overflows, so the direct form is inf / inf.
        let x = -4.0_f32;
        let direct = 25.0 * (-25.0 * x).exp() / ((-25.0 * x).exp() + 1.0).powi(2);
        assert!(direct.is_nan());
        let ours: f32 = SpikeGrad::sigmoid().grad(x);
        assert!(ours.is_finite(), "{ours}");
        assert!(ours > 0.0, "{ours}");
    }

    #[test]
    fn triangular_is_a_signed_constant() {
        let triangular = SpikeGrad::Triangular { threshold: 0.5 };
        for x in [-1e20, -1.0, -1e-12] {
            assert_eq!(Surrogate::<f64>::grad(&triangular, x), 0.5, "at {x}");
        }
        // snnTorch negates the gradient where x >= 0, the threshold included.
        for x in [0.0, 1e-12, 1.0, 1e20] {
            assert_eq!(Surrogate::<f64>::grad(&triangular, x), -0.5, "at {x}");
        }
        assert_eq!(SpikeGrad::triangular(), SpikeGrad::Triangular { threshold: 1.0 });
    }

    #[test]
    fn straight_through_passes_the_gradient() {
        for x in [-1e20_f32, -1.0, 0.0, 1.0, 1e20] {
            assert_eq!(SpikeGrad::StraightThrough.grad(x), 1.0, "at {x}");
        }
    }

    #[test]
    fn finite_at_huge_inputs_in_f32() {
        for s in [SpikeGrad::atan(), SpikeGrad::fast_sigmoid(), SpikeGrad::sigmoid()] {
            for x in [1e20_f32, -1e20, -4.0, 4.0] {
                let g: f32 = s.grad(x);
                assert!(g.is_finite(), "{s:?} at {x}: {g}");
                assert!(g >= 0.0, "{s:?} at {x}: {g}");
            }
        }
        for s in [SpikeGrad::triangular(), SpikeGrad::StraightThrough] {
            for x in [1e20_f32, -1e20] {
                let g: f32 = s.grad(x);
                assert!(g.is_finite(), "{s:?} at {x}: {g}");
            }
        }
    }
}

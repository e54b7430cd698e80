//! Surrogate gradients: the smooth derivatives that stand in for the
//! Heaviside step's in the backward pass.
//!
//! Each shape is a function of `x = U - threshold`. Names and defaults follow
//! snnTorch's `surrogate` module (snnTorch 1.0).

use autodiff::{ATan, Float, Surrogate};

/// The surrogate gradient of a spiking layer (snnTorch's `spike_grad`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpikeGrad {
    /// `(alpha / 2) / (1 + (pi * alpha * x / 2)^2)`; snnTorch's default,
    /// `alpha = 2.0`.
    ATan { alpha: f64 },
    /// `1 / (slope * |x| + 1)^2`; snnTorch's default `slope = 25.0`.
    FastSigmoid { slope: f64 },
    /// `slope * e^(-slope x) / (e^(-slope x) + 1)^2`; snnTorch's default
    /// `slope = 25.0`.
    ///
    /// Computed as `slope * s * (1 - s)` with `s = 1 / (1 + e^(-slope |x|))`,
    /// which is the same function (it is even in x) and stays finite. The
    /// direct form that snnTorch evaluates overflows to `inf / inf = NaN` in
    /// f32 for `x` below about -3.6.
    Sigmoid { slope: f64 },
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
}

impl Default for SpikeGrad {
    fn default() -> Self {
        Self::atan()
    }
}

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
                let s = F::ONE / (F::ONE + (-(slope * x.abs())).exp());
                slope * s * (F::ONE - s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_at_the_threshold() {
        let at_zero = |s: SpikeGrad| Surrogate::<f64>::grad(&s, 0.0);
        assert_eq!(at_zero(SpikeGrad::atan()), 1.0);
        assert_eq!(at_zero(SpikeGrad::fast_sigmoid()), 1.0);
        // slope / 4
        assert_eq!(at_zero(SpikeGrad::sigmoid()), 6.25);
    }

    #[test]
    fn finite_at_huge_inputs_in_f32() {
        for s in [SpikeGrad::atan(), SpikeGrad::fast_sigmoid(), SpikeGrad::sigmoid()] {
            for x in [1e20_f32, -1e20, -4.0, 4.0] {
                let g: f32 = s.grad(x);
                assert!(g.is_finite() && g >= 0.0, "{s:?} at {x}: {g}");
            }
        }
    }
}

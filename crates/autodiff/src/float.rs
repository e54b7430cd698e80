//! The scalar types the engine runs on.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar: `f32` for training, `f64` for gradient checks and
/// the reference cases. Both run the same engine code.
pub trait Float:
    Copy
    + Default
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    const ZERO: Self;
    const ONE: Self;
    /// The type's name, for messages.
    const NAME: &'static str;

    fn from_f64(value: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;
    fn max(self, other: Self) -> Self;
    fn powi(self, n: i32) -> Self;
    /// Computes `self * a + b`. Where the build targets a CPU with fused
    /// multiply-add (`target-cpu=native` on any recent x86-64 or ARM
    /// machine), that is one instruction with one rounding. Elsewhere it is
    /// a multiply and an add, because the standard library's software fused
    /// multiply-add is many times slower.
    fn mul_add(self, a: Self, b: Self) -> Self;

    /// Returns the values as `f32` when `Self` is `f32`, else `None`, so
    /// that a generic op can hand its data to a kernel written for `f32`.
    fn as_f32(values: &[Self]) -> Option<&[f32]>;
    /// [`Float::as_f32`] for a mutable slice.
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]>;

    /// Computes `C = alpha * A B + beta * C` with `matrixmultiply`'s strided
    /// kernel (`sgemm` or `dgemm`). A is `m x k`, B is `k x n`, C is `m x n`;
    /// each matrix is given by a pointer and its row and column strides.
    ///
    /// # Safety
    /// The pointers and strides must describe matrices that lie inside live
    /// allocations, and C must not overlap A or B.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_float {
    ($t:ty, $gemm:path, $values:ident => $as_f32:expr, $as_f32_mut:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);

            fn from_f64(value: f64) -> Self {
                value as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                if cfg!(target_feature = "fma") { <$t>::mul_add(self, a, b) } else { self * a + b }
            }
            #[inline(always)]
            fn as_f32($values: &[Self]) -> Option<&[f32]> {
                $as_f32
            }
            #[inline(always)]
            fn as_f32_mut($values: &mut [Self]) -> Option<&mut [f32]> {
                $as_f32_mut
            }
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: the caller upholds the contract stated on the trait.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(f32, matrixmultiply::sgemm, values => Some(values), Some(values));
impl_float!(f64, matrixmultiply::dgemm, values => { let _ = values; None }, { let _ = values; None });

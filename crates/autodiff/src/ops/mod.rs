//! The engine's ops. Each file holds one family, with every op's forward
//! rule beside its backward rule and the tests of that family.

pub mod elementwise;
pub mod matmul;
pub mod narrow;
pub mod reduce;
pub mod softmax;

pub use matmul::{gemm, Transpose};
pub use softmax::{cross_entropy_value, LabelError};

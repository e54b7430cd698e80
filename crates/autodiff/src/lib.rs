//! A small reverse-mode automatic differentiation engine.
//!
//! - [`Tensor`]: an owned, contiguous, row-major buffer with a shape, over
//!   `f32` or `f64` ([`Float`]).
//! - [`Tape`]: the record of one forward pass. Nodes are appended in
//!   creation order, which is already a topological order, so
//!   [`Var::backward`] is one reverse loop. It returns [`Gradients`] keyed
//!   by leaf; nothing is stored in hidden `.grad` fields.
//! - [`Function`]: one trait for every op, its forward rule beside its
//!   backward rule. The ops live in [`ops`]; the Heaviside spike with its
//!   ATan surrogate ([`spike`]) is the worked example of a custom function.
//!
//! # Errors and panics
//!
//! A shape mismatch inside an op is a programming error: it panics with the
//! op's name and both shapes. Values that come from outside, such as class
//! labels, are checked first and return a `Result` ([`LabelError`]).
//!
//! # Example
//!
//! ```
//! use autodiff::{Tape, Tensor};
//!
//! let tape = Tape::new();
//! let x = tape.leaf(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
//! // L = sum(x * x), so dL/dx = 2x.
//! let grads = x.mul(x).sum().backward();
//! assert_eq!(grads.get(x).unwrap().data(), &[2.0, 4.0]);
//! ```

mod float;
pub mod ops;
pub mod spike;
mod tape;
mod tensor;

pub use float::Float;
pub use ops::LabelError;
pub use spike::{ATan, Heaviside, Surrogate};
pub use tape::{Function, Gradients, Tape, Var};
pub use tensor::{PerColumn, Tensor};

//! Spiking neurons on the `autodiff` engine: snnTorch's `Leaky` neuron,
//! surrogate gradients, a Linear layer, the network of snnTorch Tutorial 5
//! unrolled through time, its loss and decoding, Adam, and the training
//! step.
//!
//! Names follow snnTorch and PyTorch (`Leaky`, `beta`, `threshold`,
//! `spike_grad`, `learn_beta`, `reset_mechanism`, `fc1.weight`) so that a
//! reader who knows them finds their way.
//!
//! Everything is generic over the float type: training runs in `f32`, the
//! reference cases and gradient checks run the same code in `f64`.

pub mod decode;
pub mod functional;
pub mod fused;
pub mod leaky;
pub mod linear;
pub mod loss;
pub mod net;
pub mod optim;
pub mod parallel;
pub mod spikegen;
pub mod surrogate;
pub mod train;

pub use leaky::{Leaky, Reset};
pub use linear::Linear;
pub use net::{Net, NetConfig};
pub use optim::Adam;
pub use surrogate::SpikeGrad;
pub use train::{StepOutput, TrainError, eval_step, eval_step_encoded, train_step, train_step_encoded, train_step_split, train_step_split_with, train_step_unrolled};

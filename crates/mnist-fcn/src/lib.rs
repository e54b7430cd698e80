//! Trains snnTorch Tutorial 5's fully connected spiking network on MNIST:
//! reading and finding the data, batching, the training loop with its
//! report, evaluation, and the files a run writes. `main.rs` is a thin
//! command line over this library.
pub mod batch;
pub mod data;
pub mod download;
pub mod figures;
pub mod idx;
pub mod output;
pub mod training;

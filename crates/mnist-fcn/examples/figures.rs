//! Regenerates the book's figures, SVG and PNG.
//!
//! Without `--data-dir` it draws the surrogate gradients only, which need no
//! data. With `--data-dir` pointing at a folder of the four MNIST IDX files,
//! it also trains the network for one epoch with the program's defaults.
//! It then draws that run's loss curves, and the spike raster and output
//! membranes of the first test image.
//!
//! All the book's figures, from the workspace root:
//!
//! ```text
//! cargo run --release -p mnist-fcn --example figures -- --data-dir "$SNN_DATA_DIR/digits-t10k"
//! ```
//!
//! where `$SNN_DATA_DIR/digits-t10k` holds the digits-t10k split (8,000
//! training and 2,000 test images); one epoch of it takes a few seconds in
//! release. The figures go to `book/src/figures/` unless a folder is given
//! as the first argument.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use mnist_fcn::data;
use mnist_fcn::figures;
use mnist_fcn::training::{self, TrainConfig};

/// Draw the book's figures into a folder.
#[derive(Parser, Debug)]
struct Args {
    /// Folder for the figures. Default: the book's src/figures/.
    #[arg(value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Folder holding the four MNIST IDX files. When given, the program
    /// trains one epoch on them and also draws the loss curves, spike raster
    /// and membranes.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn run(args: &Args) -> Result<Vec<PathBuf>, String> {
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/src/figures"));
    let Some(data_dir) = &args.data_dir else {
        return figures::surrogates(&out_dir).map_err(|e| e.to_string());
    };

    let data = data::load_dir(data_dir).map_err(|e| e.to_string())?;
    let config = TrainConfig::default();
    println!(
        "training one epoch on {} images from {}",
        data.train.labels.len(),
        data.dir.display()
    );
    let outcome = training::train(&config, &data, None, &AtomicBool::new(false), |_| {}).map_err(|e| e.to_string())?;
    figures::write_run_figures(&out_dir, &outcome.train_loss, &outcome.test_loss, &outcome.net, &data.test)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(paths) => {
            for path in paths {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

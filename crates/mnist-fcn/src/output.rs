//! What a run writes: the metrics file and the weights, each through a
//! temporary file and a rename so that a crash never leaves half a file.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use autodiff::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::Serialize;
use snn::Net;

/// A file that could not be written or read.
#[derive(Debug)]
pub struct OutputError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for OutputError {}

fn error(path: &Path, message: impl Into<String>) -> OutputError {
    OutputError { path: path.to_path_buf(), message: message.into() }
}

/// Writes `bytes` to `path` through a temporary file in the same folder,
/// renamed over `path` only once everything is written and flushed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| error(dir, format!("cannot create the folder: {e}")))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| error(dir, format!("cannot create a temporary file: {e}")))?;
    file.write_all(bytes).map_err(|e| error(path, format!("write failed: {e}")))?;
    file.as_file().sync_all().map_err(|e| error(path, format!("write failed: {e}")))?;
    // The temporary file is created readable by its owner only; give the
    // finished file the usual permissions of a new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::Permissions::from_mode(0o644);
        file.as_file().set_permissions(permissions).map_err(|e| error(path, format!("cannot set permissions: {e}")))?;
    }
    file.persist(path).map_err(|e| error(path, format!("cannot move the finished file into place: {}", e.error)))?;
    Ok(())
}

/// Everything a run measured, as written to `metrics.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    pub dataset: String,
    pub data_dir: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub num_steps: usize,
    pub beta: f64,
    pub lr: f64,
    pub hidden: usize,
    pub seed: u64,
    /// `fused` or `unrolled`.
    pub engine: String,
    /// `direct`, `rate` or `latency`.
    pub encoding: String,
    /// Threads that shared each training batch.
    pub threads: usize,
    pub train_images: usize,
    pub iterations: usize,
    /// True when the run was stopped before its last epoch ended.
    pub interrupted: bool,
    /// Wall time of the training loop, the per-iteration test minibatch
    /// included; data loading and the final evaluation excluded.
    pub train_seconds: f64,
    pub test_images: usize,
    /// Rate decoding: most output spikes, ties to the lowest class index.
    pub test_accuracy: f64,
    /// Largest output membrane summed over the steps.
    pub test_accuracy_membrane: f64,
    pub test_correct: usize,
    pub test_correct_membrane: usize,
    /// Test images whose top spike count is shared by several classes.
    pub test_spike_count_ties: usize,
    /// Test images with no output spike.
    pub test_silent: usize,
    /// Wall time of the evaluation over the whole test set.
    pub eval_seconds: f64,
    /// Training loss of every iteration (summed over the time steps).
    pub train_loss: Vec<f32>,
    /// Loss of the test minibatch evaluated after every iteration.
    pub test_loss: Vec<f32>,
}

impl Metrics {
    pub fn write(&self, path: &Path) -> Result<(), OutputError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| error(path, e.to_string()))?;
        write_atomic(path, &json)
    }
}

fn to_bytes(tensor: &Tensor<f32>) -> Vec<u8> {
    tensor.data().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Saves the network's parameters as safetensors with PyTorch's names and
/// layout (`fc1.weight` `[hidden, 784]`, `fc1.bias`, `fc2.weight`
/// `[10, hidden]`, `fc2.bias`, and any learnable beta), in f32.
pub fn save_weights(net: &Net<f32>, path: &Path) -> Result<(), OutputError> {
    let params = net.parameters();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        params.iter().map(|(name, t)| (name.clone(), t.shape().to_vec(), to_bytes(t))).collect();
    let mut views = Vec::new();
    for (name, shape, data) in &bytes {
        let view = TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| error(path, e.to_string()))?;
        views.push((name.clone(), view));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let file = safetensors::serialize(views, Some(metadata)).map_err(|e| error(path, e.to_string()))?;
    write_atomic(path, &file)
}

/// Loads weights saved by [`save_weights`] (or by PyTorch, with the same
/// names) into `net`, whose shapes they must match.
pub fn load_weights(net: &mut Net<f32>, path: &Path) -> Result<(), OutputError> {
    let bytes = std::fs::read(path).map_err(|e| error(path, format!("cannot read the weights file: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| error(path, format!("not a safetensors file ({e}); pass a file written with --save")))?;

    let expected: Vec<(String, Vec<usize>)> = net.parameters().iter().map(|(n, t)| (n.clone(), t.shape().to_vec())).collect();
    let mut loaded = Vec::new();
    for (name, shape) in &expected {
        let view = file.tensor(name).map_err(|_| {
            error(path, format!("has no tensor named {name}; it holds {:?}", file.names()))
        })?;
        if view.dtype() != Dtype::F32 {
            return Err(error(path, format!("{name} is {:?}, expected F32", view.dtype())));
        }
        if view.shape() != shape.as_slice() {
            return Err(error(
                path,
                format!(
                    "{name} has shape {:?} but this network needs {shape:?}; match --hidden to the saved network",
                    view.shape()
                ),
            ));
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        loaded.push(Tensor::from_vec(values, shape));
    }
    for (param, value) in net.parameters_mut().into_iter().zip(loaded) {
        *param = value;
    }
    Ok(())
}

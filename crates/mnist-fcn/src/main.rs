//! `cargo run --release -p mnist-fcn`: trains snnTorch Tutorial 5's network
//! and reports as the tutorial does. The work happens in the library; this
//! file reads the command line and prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use mnist_fcn::data::{self, Dataset, MnistData};
use mnist_fcn::download;
use mnist_fcn::output::{Metrics, load_weights, save_weights};
use mnist_fcn::data::Split;
use mnist_fcn::figures;
use mnist_fcn::training::{self, Encoding, Engine, Evaluation, Progress, TrainConfig, TrainOutcome};
use rand::SeedableRng;
use rand::rngs::StdRng;
use snn::Net;

// Each training step allocates and frees buffers of several megabytes.
// glibc's allocator returns such blocks to the kernel, and every step then
// pays for fresh page faults; mimalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train the fully connected spiking network of snnTorch Tutorial 5
/// (784-1000-10, two Leaky layers, 25 time steps, BPTT) on MNIST.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Dataset to train on; it selects the folder data/<dataset>/ and the files to look for.
    #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
    dataset: Dataset,

    /// Folder holding the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
    /// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), gzip-compressed or raw.
    /// Default: data/<dataset>/, then for fashion /usr/share/datasets/fashion-mnist.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Download from this mirror instead of the built-in list. A mirror is a URL prefix that the
    /// four .gz file names are appended to. Repeat the option to try several in order.
    #[arg(long, value_name = "URL")]
    mirror: Vec<String>,

    /// Passes over the training set.
    #[arg(long, default_value_t = 1, value_parser = at_least_one, allow_negative_numbers = true)]
    epochs: usize,

    /// Images per batch (the last partial training batch is dropped).
    #[arg(long, default_value_t = 128, value_parser = at_least_one, allow_negative_numbers = true)]
    batch_size: usize,

    /// Time steps per image; the static image is fed at every step.
    #[arg(long, default_value_t = 25, value_parser = at_least_one, allow_negative_numbers = true)]
    num_steps: usize,

    /// Membrane decay per time step of both Leaky layers, in [0, 1].
    // Accepting "-0.1" as a value lets the range check name the option,
    // instead of clap reading it as an unknown flag "-0".
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    beta: f64,

    /// Adam learning rate.
    #[arg(long, default_value_t = 5e-4, allow_negative_numbers = true)]
    lr: f64,

    /// Neurons in the hidden layer.
    #[arg(long, default_value_t = 1000, value_parser = at_least_one, allow_negative_numbers = true)]
    hidden: usize,

    /// Seed of the initial weights, the shuffling and the test minibatches.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Folder for metrics.json, weights.safetensors and figures/ (SVG and PNG).
    /// Default: runs/<dataset>-seed<seed>-<UTC time>/.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Write the metrics JSON here instead of <out-dir>/metrics.json.
    #[arg(long, value_name = "PATH")]
    metrics_json: Option<PathBuf>,

    /// Write the trained weights (safetensors) here instead of <out-dir>/weights.safetensors.
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,

    /// Start from these weights (safetensors with PyTorch's names) instead of a random initialisation.
    #[arg(long, value_name = "PATH")]
    load: Option<PathBuf>,

    /// Only evaluate the weights given with --load on the test set; no training. A --data-dir
    /// folder then needs only the two t10k files.
    #[arg(long, requires = "load")]
    eval_only: bool,

    /// Recording of each training step for backpropagation: fused ops over all time steps,
    /// or every step op by op (slower; the same gradients, rounded differently in f32).
    #[arg(long, value_enum, default_value_t = Engine::Fused)]
    engine: Engine,

    /// Input of each time step: the pixel values (direct, as in the tutorial), Bernoulli
    /// spikes with the pixel value as probability (rate), or one spike per pixel, brighter
    /// pixels first (latency).
    #[arg(long, value_enum, default_value_t = Encoding::Direct)]
    encoding: Encoding,

    /// Threads that share each training batch, its test minibatch and the final evaluation of
    /// the test set. Only the fused engine with direct input splits the training batch; otherwise
    /// the test minibatch runs on one thread beside training.
    #[arg(long, default_value_t = 2, value_parser = at_least_one, allow_negative_numbers = true)]
    threads: usize,

    /// Print a progress report every this many iterations.
    #[arg(long, default_value_t = 50, value_name = "N")]
    report_every: usize,

    /// Print only the final result: no progress reports, no progress bars.
    #[arg(long, short)]
    quiet: bool,
}

/// Parses a count option (epochs, batch size, steps, hidden neurons),
/// naming the allowed range when the value is outside it.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err("it must be a whole number of at least 1".to_string()),
    }
}

impl Args {
    fn train_config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            num_steps: self.num_steps,
            beta: self.beta,
            lr: self.lr,
            hidden: self.hidden,
            seed: self.seed,
            report_every: self.report_every.max(1),
            engine: self.engine,
            encoding: self.encoding,
            threads: self.threads,
        }
    }

    fn out_dir(&self) -> PathBuf {
        self.out_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-seed{}-{}", self.dataset, self.seed, utc_timestamp())))
    }
}

/// The current UTC time as `YYYYMMDD-HHMMSS`.
fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Prints a line to stdout like `println!`, but ignores a write error. When
/// the reader of a pipe has gone (`mnist-fcn | head`), `println!` panics,
/// and the run would end without writing its metrics and weights.
macro_rules! try_println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn print_progress(p: &Progress) {
    try_println!("Epoch {}, Iteration {}", p.epoch, p.iteration);
    try_println!("Train Set Loss: {:.2}", p.train_loss);
    try_println!("Test Set Loss: {:.2}", p.test_loss);
    try_println!("Train set accuracy for a single minibatch: {:.2}%", p.train_batch_accuracy * 100.0);
    try_println!("Test set accuracy for a single minibatch: {:.2}%", p.test_batch_accuracy * 100.0);
    try_println!();
}

fn print_evaluation(eval: &Evaluation) {
    try_println!("Total correctly classified test set images: {}/{}", eval.correct_rate, eval.images);
    try_println!("Test Set Accuracy: {:.2}%", eval.accuracy_rate() * 100.0);
    try_println!(
        "Test Set Accuracy by summed output membrane: {:.2}% ({}/{})",
        eval.accuracy_membrane() * 100.0,
        eval.correct_membrane,
        eval.images
    );
    try_println!(
        "Images with tied top spike counts: {}, with no output spike: {}",
        eval.spike_count_ties, eval.silent
    );
}

fn load_data(args: &Args) -> Result<MnistData, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
    if args.eval_only
        && let Some(dir) = &args.data_dir
    {
        // Evaluating saved weights reads the test split only.
        return data::load_test_dir(&cwd.join(dir)).map_err(|e| e.to_string());
    }
    let mirrors = if args.mirror.is_empty() { download::default_mirrors(args.dataset) } else { args.mirror.clone() };
    let dir = download::find_or_download(args.dataset, args.data_dir.as_deref(), &cwd, &mirrors, !args.quiet)
        .map_err(|e| e.to_string())?;
    data::load_dir(&dir).map_err(|e| e.to_string())
}

/// A bar over all training iterations on stderr, shown only on a terminal.
fn progress_bar(args: &Args, data: &MnistData) -> ProgressBar {
    if args.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total = (data.train.labels.len() / args.batch_size.max(1) * args.epochs) as u64;
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} iterations, {elapsed} elapsed, about {eta} left")
        .expect("the progress template is valid");
    bar.set_style(style);
    bar
}

fn metrics(args: &Args, data: &MnistData, outcome: Option<&TrainOutcome>, eval: &Evaluation) -> Metrics {
    let config = args.train_config();
    Metrics {
        dataset: args.dataset.to_string(),
        data_dir: data.dir.display().to_string(),
        epochs: config.epochs,
        batch_size: config.batch_size,
        num_steps: config.num_steps,
        beta: config.beta,
        lr: config.lr,
        hidden: config.hidden,
        seed: config.seed,
        engine: format!("{:?}", config.engine).to_lowercase(),
        encoding: format!("{:?}", config.encoding).to_lowercase(),
        threads: config.threads,
        train_images: data.train.labels.len(),
        iterations: outcome.map_or(0, |o| o.train_loss.len()),
        interrupted: outcome.is_some_and(|o| o.interrupted),
        train_seconds: outcome.map_or(0.0, |o| o.train_seconds),
        test_images: eval.images,
        test_accuracy: eval.accuracy_rate(),
        test_accuracy_membrane: eval.accuracy_membrane(),
        test_correct: eval.correct_rate,
        test_correct_membrane: eval.correct_membrane,
        test_spike_count_ties: eval.spike_count_ties,
        test_silent: eval.silent,
        eval_seconds: eval.seconds,
        train_loss: outcome.map_or_else(Vec::new, |o| o.train_loss.clone()),
        test_loss: outcome.map_or_else(Vec::new, |o| o.test_loss.clone()),
    }
}

/// The files of a run. The default folder's name contains the time, so the
/// paths are fixed once, before training, and used for both the check and
/// the writes.
struct OutputPaths {
    metrics: PathBuf,
    weights: PathBuf,
    figures: PathBuf,
}

impl OutputPaths {
    fn new(args: &Args) -> Self {
        let out_dir = args.out_dir();
        Self {
            metrics: args.metrics_json.clone().unwrap_or_else(|| out_dir.join("metrics.json")),
            weights: args.save.clone().unwrap_or_else(|| out_dir.join("weights.safetensors")),
            figures: out_dir.join("figures"),
        }
    }

    /// Checks that every file of the run can be created, so that a run
    /// whose results could not be saved fails before it trains. For a
    /// folder that does not exist yet, its nearest existing ancestor is
    /// checked. The check creates nothing that stays behind.
    fn check(&self, trains: bool) -> Result<(), String> {
        let mut folders = vec![(parent(&self.metrics), "--metrics-json or --out-dir")];
        if trains {
            folders.push((parent(&self.weights), "--save or --out-dir"));
            folders.push((self.figures.clone(), "--out-dir"));
        }
        for (folder, options) in folders {
            let mut existing = folder.as_path();
            while !existing.exists() {
                existing = existing.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            }
            let writable = if existing.is_dir() {
                tempfile::NamedTempFile::new_in(existing)
                    .map(drop)
                    .map_err(|e| format!("creating a file in {} failed: {e}", existing.display()))
            } else {
                Err(format!("{} is not a folder", existing.display()))
            };
            writable.map_err(|reason| {
                format!("cannot write into {}: {reason}; choose a writable location with {options}", folder.display())
            })?;
        }
        Ok(())
    }
}

/// Returns the folder that `path` is in, `.` for a bare file name.
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes the metrics, and for a trained network its weights and figures.
fn write_outputs(paths: &OutputPaths, metrics: &Metrics, trained: Option<(&Net<f32>, &Split)>) -> Result<(), String> {
    metrics.write(&paths.metrics).map_err(|e| e.to_string())?;
    try_println!("Metrics written to {}", paths.metrics.display());
    if let Some((net, test)) = trained {
        save_weights(net, &paths.weights).map_err(|e| e.to_string())?;
        try_println!("Weights written to {}", paths.weights.display());

        figures::write_run_figures(&paths.figures, &metrics.train_loss, &metrics.test_loss, net, test)
            .map_err(|e| e.to_string())?;
        try_println!("Figures written to {}", paths.figures.display());
    }
    Ok(())
}

fn load_net(args: &Args, path: &Path) -> Result<Net<f32>, String> {
    let config = args.train_config();
    let mut net = Net::new(&config.net_config(), &mut StdRng::seed_from_u64(config.seed));
    load_weights(&mut net, path).map_err(|e| e.to_string())?;
    Ok(net)
}

fn run(args: &Args, stop: &AtomicBool) -> Result<ExitCode, String> {
    let config = args.train_config();
    config.validate().map_err(|e| e.to_string())?;
    // The weights need no data, so a bad --load file fails before a download.
    let loaded = args.load.as_deref().map(|path| load_net(args, path)).transpose()?;
    let data = load_data(args)?;
    if !args.quiet {
        try_println!(
            "{} from {}: {} training and {} test images",
            args.dataset.title(),
            data.dir.display(),
            data.train.labels.len(),
            data.test.labels.len()
        );
    }

    let paths = OutputPaths::new(args);
    paths.check(!args.eval_only)?;

    if args.eval_only {
        let net = loaded.expect("clap requires --load with --eval-only");
        let eval = training::evaluate(&net, &data.test, config.batch_size, config.encoding, config.seed, config.threads)
            .map_err(|e| e.to_string())?;
        print_evaluation(&eval);
        write_outputs(&paths, &metrics(args, &data, None, &eval), None)?;
        return Ok(ExitCode::SUCCESS);
    }

    let initial = loaded;
    let quiet = args.quiet;
    let bar = progress_bar(args, &data);
    let outcome = training::train(&config, &data, initial, stop, |p| {
        bar.set_position((p.epoch * p.iterations_per_epoch + p.iteration) as u64);
        if !quiet {
            bar.suspend(|| print_progress(p));
        }
    });
    bar.finish_and_clear();
    let outcome = outcome.map_err(|e| e.to_string())?;

    let eval = training::evaluate(&outcome.net, &data.test, config.batch_size, config.encoding, config.seed, config.threads)
        .map_err(|e| e.to_string())?;
    print_evaluation(&eval);
    try_println!("Training time: {:.2} s for {} iterations", outcome.train_seconds, outcome.train_loss.len());
    let metrics = metrics(args, &data, Some(&outcome), &eval);
    write_outputs(&paths, &metrics, Some((&outcome.net, &data.test)))?;

    if outcome.interrupted {
        eprintln!(
            "interrupted: training stopped after {} iterations; the metrics and weights above are from that point",
            outcome.train_loss.len()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || handler_flag.store(true, Ordering::Relaxed)) {
        eprintln!("warning: Ctrl-C will end the program at once, without saving: {e}");
    }
    match run(&args, &stop) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

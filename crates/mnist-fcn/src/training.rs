//! The training loop of Tutorial 5 and the evaluation over a whole test set.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use snn::loss::{count_correct, membrane_predictions, rate_predictions};
use autodiff::Tensor;
use rand::Rng;
use snn::spikegen::{self, LatencyOptions};
use snn::{Adam, Net, NetConfig, StepOutput, TrainError, eval_step, eval_step_encoded, train_step_encoded, train_step_split_with, train_step_unrolled};

use crate::batch::{Batch, epoch_order, gather, random_batch};
use crate::data::{MnistData, Split};

/// The way a training step records the network on the tape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// One fused op per layer covers all time steps
    /// (`snn::train_step_split_with`, or `snn::train_step_encoded` for
    /// spike-encoded input).
    #[default]
    Fused,
    /// Every time step recorded op by op (`snn::train_step_unrolled`):
    /// the straightforward reading of BPTT, slower, with the same gradients
    /// rounded differently in `f32`.
    Unrolled,
}

/// The rule that turns an image into the network's input at each time step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// The pixel values themselves at every step, as Tutorial 5 feeds them.
    #[default]
    Direct,
    /// A spike at each step with probability equal to the pixel value
    /// (snnTorch's `spikegen.rate`), drawn anew for every batch.
    Rate,
    /// One spike per pixel, earlier for brighter pixels (snnTorch's
    /// `spikegen.latency` with its defaults: tau 1, threshold 0.01).
    Latency,
}

impl Encoding {
    /// Returns the input of a batch: the images as they are for [`Encoding::Direct`],
    /// otherwise `[steps * batch, pixels]` spikes.
    fn encode(self, images: Tensor<f32>, steps: usize, rng: &mut impl Rng) -> Result<Tensor<f32>, RunError> {
        let encoded = match self {
            Self::Direct => return Ok(images),
            Self::Rate => spikegen::rate(&images, steps, rng),
            Self::Latency => spikegen::latency(&images, steps, &LatencyOptions::default()),
        };
        encoded.map_err(|e| RunError::Data(e.to_string()))
    }
}

/// Evaluates one batch of input made by [`Encoding::encode`].
fn eval_input(net: &Net<f32>, encoding: Encoding, input: &Tensor<f32>, labels: &[usize]) -> Result<StepOutput<f32>, String> {
    let result = match encoding {
        Encoding::Direct => eval_step(net, input, labels),
        Encoding::Rate | Encoding::Latency => eval_step_encoded(net, input, labels),
    };
    result.map_err(|e| e.to_string())
}

/// The loss and the rate-decoded accuracy of a test minibatch.
type TestResult = Result<(f32, f64), String>;

/// Runs one training step, and evaluates `test` (the previous step's test
/// minibatch) with the parameters as they were before this step.
///
/// With the fused engine and direct input, the step's batch and the test
/// batch are both split over `config.threads` threads, each thread taking
/// one share of each. Otherwise the test batch runs on a thread of its
/// own beside the step, reading a copy of the parameters.
fn step_and_test(
    config: &TrainConfig,
    net: &mut Net<f32>,
    adam: &mut Adam<f32>,
    input: Tensor<f32>,
    labels: &[usize],
    test: Option<&Batch>,
) -> (Result<StepOutput<f32>, TrainError>, Option<TestResult>) {
    let encoding = config.encoding;
    match (config.engine, encoding) {
        (Engine::Fused, Encoding::Direct) => {
            // No more parts than samples in either batch: an empty part
            // would have nothing to train or evaluate.
            let test_samples = test.map_or(usize::MAX, |test| test.labels.len());
            let parts = config.threads.min(labels.len()).min(test_samples).max(1);
            let side = |net: &Net<f32>, part: usize| test.map(|test| test_piece(net, encoding, test, part, parts));
            match train_step_split_with(net, adam, input, labels, parts, side) {
                Ok((step, pieces)) => {
                    let tested = test.map(|test| combine_pieces(pieces.into_iter().flatten(), test.labels.len()));
                    (Ok(step), tested)
                }
                Err(err) => (Err(err), None),
            }
        }
        (engine, _) => std::thread::scope(|scope| {
            let tester = test.map(|test| {
                let snapshot = net.clone();
                scope.spawn(move || test_pieces(&snapshot, encoding, test, 1))
            });
            let result = match engine {
                Engine::Unrolled => train_step_unrolled(net, adam, input, labels),
                Engine::Fused => train_step_encoded(net, adam, input, labels),
            };
            (result, tester.map(|t| t.join().expect("the test evaluation thread panicked")))
        }),
    }
}

/// Evaluates one of `parts` ranges of samples of a test batch and returns
/// its loss, its number of correct samples and its number of samples.
/// With more than one part, the batch must contain direct input, one row
/// per sample.
fn test_piece(net: &Net<f32>, encoding: Encoding, test: &Batch, part: usize, parts: usize) -> Result<(f32, usize, usize), String> {
    let samples = test.labels.len();
    let range = part * samples / parts..(part + 1) * samples / parts;
    let labels = &test.labels[range.clone()];
    let out = if parts == 1 {
        eval_input(net, encoding, &test.images, labels)?
    } else {
        let (_, pixels) = test.images.dims2("test batch");
        let rows = test.images.data()[range.start * pixels..range.end * pixels].to_vec();
        eval_input(net, encoding, &Tensor::from_vec(rows, &[range.len(), pixels]), labels)?
    };
    Ok((out.loss, count_correct(&rate_predictions(&out.spike_counts), labels), labels.len()))
}

/// [`test_piece`] over all `parts` ranges in turn, combined.
fn test_pieces(net: &Net<f32>, encoding: Encoding, test: &Batch, parts: usize) -> TestResult {
    combine_pieces((0..parts).map(|part| test_piece(net, encoding, test, part, parts)), test.labels.len())
}

/// Combines the pieces into the batch's loss and accuracy. The loss is a
/// mean over samples, so each piece's loss is weighted by its rows.
fn combine_pieces(pieces: impl IntoIterator<Item = Result<(f32, usize, usize), String>>, total: usize) -> TestResult {
    let (mut loss, mut correct) = (0.0_f64, 0);
    for piece in pieces {
        let (piece_loss, piece_correct, rows) = piece?;
        loss += f64::from(piece_loss) * rows as f64 / total as f64;
        correct += piece_correct;
    }
    Ok((loss as f32, accuracy(correct, total)))
}

/// The settings of a training run. The defaults are Tutorial 5's.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set. Default 1.
    pub epochs: usize,
    /// Images per batch. Default 128.
    pub batch_size: usize,
    /// Time steps per image. Default 25.
    pub num_steps: usize,
    /// Membrane decay of both layers. Default 0.95.
    pub beta: f64,
    /// Adam's learning rate. Default 5e-4.
    pub lr: f64,
    /// Hidden neurons. Default 1000.
    pub hidden: usize,
    /// Seed of the weights, the shuffles and the test minibatches. Default 0.
    pub seed: u64,
    /// Print a progress line every this many iterations. Default 50.
    pub report_every: usize,
    /// Default [`Engine::Fused`].
    pub engine: Engine,
    /// Default [`Encoding::Direct`].
    pub encoding: Encoding,
    /// Threads that share each training batch, its test minibatch and the
    /// evaluation of the test set. Only the fused engine with direct input
    /// splits the training batch; otherwise the test minibatch runs on one
    /// thread beside training. Default 2.
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 1, batch_size: 128, num_steps: 25, beta: 0.95, lr: 5e-4, hidden: 1000, seed: 0, report_every: 50, engine: Engine::Fused, encoding: Encoding::Direct, threads: 2 }
    }
}

/// A setting outside its allowed range.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub option: &'static str,
    pub value: String,
    pub allowed: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {} for {}: it must be {}", self.value, self.option, self.allowed)
    }
}

impl std::error::Error for ConfigError {}

impl TrainConfig {
    /// Checks every setting before any work starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size),
            ("--num-steps", self.num_steps),
            ("--hidden", self.hidden),
            ("--threads", self.threads),
        ];
        for (option, value) in at_least_one {
            if value < 1 {
                return Err(ConfigError { option, value: value.to_string(), allowed: "a whole number of at least 1" });
            }
        }
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(ConfigError { option: "--beta", value: self.beta.to_string(), allowed: "between 0 and 1 inclusive" });
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ConfigError { option: "--lr", value: self.lr.to_string(), allowed: "a positive, finite number" });
        }
        if self.engine == Engine::Unrolled && self.encoding != Encoding::Direct {
            return Err(ConfigError {
                option: "--engine",
                value: "unrolled".into(),
                allowed: "fused when --encoding is rate or latency (the unrolled engine takes direct input only)",
            });
        }
        Ok(())
    }

    pub fn net_config(&self) -> NetConfig {
        NetConfig { num_hidden: self.hidden, num_steps: self.num_steps, beta: self.beta, ..NetConfig::default() }
    }
}

/// The report the loop makes every `report_every` iterations, as the tutorial
/// prints it.
#[derive(Clone, Debug)]
pub struct Progress {
    pub epoch: usize,
    /// Iteration within the epoch, from 0.
    pub iteration: usize,
    pub iterations_per_epoch: usize,
    pub train_loss: f32,
    pub test_loss: f32,
    /// Rate-decoded accuracy on this iteration's training batch.
    pub train_batch_accuracy: f64,
    /// Rate-decoded accuracy on this iteration's test minibatch.
    pub test_batch_accuracy: f64,
}

/// A finished or stopped training run.
pub struct TrainOutcome {
    pub net: Net<f32>,
    /// Training loss of every iteration, summed over the time steps.
    pub train_loss: Vec<f32>,
    /// Loss on the test minibatch evaluated after every iteration.
    pub test_loss: Vec<f32>,
    /// Wall time of the loop, the per-iteration test minibatch included.
    pub train_seconds: f64,
    /// True when the stop flag ended the run early.
    pub interrupted: bool,
}

/// The reason training ended without a result.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// The loss became NaN or infinite; no parameter was updated with it.
    NonFiniteLoss { iteration: usize, loss: f64, last_finite: Option<f64> },
    /// A label or an image count that the network cannot use.
    Data(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFiniteLoss { iteration, loss, last_finite } => {
                let last = last_finite.map_or("none".to_string(), |l| format!("{l:.4}"));
                write!(
                    f,
                    "training stopped at iteration {iteration}: the loss became {loss} (last finite loss: {last}); \
                     no weights were saved from the diverged parameters. Try a lower --lr"
                )
            }
            Self::Data(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for RunError {}

fn accuracy(correct: usize, total: usize) -> f64 {
    if total == 0 { 0.0 } else { correct as f64 / total as f64 }
}

/// Trains a new network on `data.train` as Tutorial 5 does: for each
/// shuffled batch, one training step, then the loss on a random test
/// minibatch; `on_progress` every `report_every` iterations.
///
/// `initial` replaces the random initialisation, for example with loaded
/// weights. Setting `stop` ends the run after the current iteration, with
/// `interrupted` set in the outcome.
///
/// # Errors
/// A non-finite loss (the parameters stay as they were before that step),
/// or a training set smaller than one batch.
pub fn train(
    config: &TrainConfig,
    data: &MnistData,
    initial: Option<Net<f32>>,
    stop: &AtomicBool,
    mut on_progress: impl FnMut(&Progress),
) -> Result<TrainOutcome, RunError> {
    if data.train.labels.len() < config.batch_size {
        return Err(RunError::Data(format!(
            "the training set has {} images, fewer than one batch of {}: lower --batch-size",
            data.train.labels.len(),
            config.batch_size
        )));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let fresh = Net::<f32>::new(&config.net_config(), &mut rng);
    let mut net = initial.unwrap_or(fresh);
    let mut adam = Adam::new(config.lr);
    let (mut train_loss, mut test_loss) = (Vec::new(), Vec::new());
    let mut interrupted = false;

    let start = Instant::now();
    // The test minibatch drawn after step i is evaluated while step i + 1
    // trains, with the parameters as step i left them, so every loss equals
    // the sequential loop's.
    let mut pending: Option<(Progress, Batch)> = None;
    let mut report = |progress: Progress, tested: TestResult, test_loss: &mut Vec<f32>| -> Result<(), RunError> {
        let (loss, batch_accuracy) = tested.map_err(RunError::Data)?;
        test_loss.push(loss);
        if progress.iteration.is_multiple_of(config.report_every) {
            on_progress(&Progress { test_loss: loss, test_batch_accuracy: batch_accuracy, ..progress });
        }
        Ok(())
    };
    'epochs: for epoch in 0..config.epochs {
        let batches = epoch_order(data.train.labels.len(), config.batch_size, &mut rng);
        for (iteration, indices) in batches.iter().enumerate() {
            let batch = gather(&data.train, indices);
            let input = config.encoding.encode(batch.images, config.num_steps, &mut rng)?;
            let test = pending.as_ref().map(|(_, test)| test);
            let (result, tested) = step_and_test(config, &mut net, &mut adam, input, &batch.labels, test);
            let step = match result {
                Ok(step) => step,
                Err(TrainError::NonFiniteLoss { loss }) => {
                    return Err(RunError::NonFiniteLoss {
                        iteration: train_loss.len(),
                        loss,
                        last_finite: train_loss.last().map(|&l: &f32| f64::from(l)),
                    });
                }
                Err(TrainError::Label(err)) => return Err(RunError::Data(err.to_string())),
            };
            train_loss.push(step.loss);
            if let (Some((progress, _)), Some(tested)) = (pending.take(), tested) {
                report(progress, tested, &mut test_loss)?;
            }

            let test_indices = random_batch(data.test.labels.len(), config.batch_size, &mut rng);
            let mut test_batch = gather(&data.test, &test_indices);
            test_batch.images = config.encoding.encode(test_batch.images, config.num_steps, &mut rng)?;
            let progress = Progress {
                epoch,
                iteration,
                iterations_per_epoch: batches.len(),
                train_loss: step.loss,
                test_loss: f32::NAN,
                train_batch_accuracy: accuracy(
                    count_correct(&rate_predictions(&step.spike_counts), &batch.labels),
                    batch.labels.len(),
                ),
                test_batch_accuracy: f64::NAN,
            };
            pending = Some((progress, test_batch));

            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break 'epochs;
            }
        }
    }
    if let Some((progress, test)) = pending.take() {
        let tested = test_pieces(&net, config.encoding, &test, 1);
        report(progress, tested, &mut test_loss)?;
    }
    let train_seconds = start.elapsed().as_secs_f64();
    Ok(TrainOutcome { net, train_loss, test_loss, train_seconds, interrupted })
}

/// Accuracy of a network over every image of a split.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub images: usize,
    /// Correct by rate decoding (most output spikes, ties to the lowest class).
    pub correct_rate: usize,
    /// Correct by the largest output membrane summed over the steps.
    pub correct_membrane: usize,
    /// Images whose largest spike count is shared by two or more classes.
    pub spike_count_ties: usize,
    /// Images with no output spike at all.
    pub silent: usize,
    pub seconds: f64,
}

impl Evaluation {
    pub fn accuracy_rate(&self) -> f64 {
        accuracy(self.correct_rate, self.images)
    }

    pub fn accuracy_membrane(&self) -> f64 {
        accuracy(self.correct_membrane, self.images)
    }
}

/// Evaluates `net` on every image of `split`, in batches of `batch_size`
/// (the last one may be smaller), shared among `threads` threads.
///
/// With a spike encoding, the input of batch `i` is drawn from a generator
/// seeded with `seed + i`, so an evaluation can be repeated exactly, with
/// any number of threads.
pub fn evaluate(
    net: &Net<f32>,
    split: &Split,
    batch_size: usize,
    encoding: Encoding,
    seed: u64,
    threads: usize,
) -> Result<Evaluation, RunError> {
    let start = Instant::now();
    let all: Vec<usize> = (0..split.labels.len()).collect();
    let batches: Vec<&[usize]> = all.chunks(batch_size.max(1)).collect();
    let threads = threads.clamp(1, batches.len().max(1));
    // Thread k takes batches k, k + threads, ...; each batch encodes with
    // its own seed, so the result does not depend on the thread count.
    let tally = |k: usize| -> Result<Evaluation, RunError> {
        let mut result = Evaluation { images: 0, correct_rate: 0, correct_membrane: 0, spike_count_ties: 0, silent: 0, seconds: 0.0 };
        for (i, indices) in batches.iter().enumerate().skip(k).step_by(threads) {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
            let batch = gather(split, indices);
            let input = encoding.encode(batch.images, net.num_steps, &mut rng)?;
            let out = eval_input(net, encoding, &input, &batch.labels).map_err(RunError::Data)?;
            result.images += indices.len();
            result.correct_rate += count_correct(&rate_predictions(&out.spike_counts), &batch.labels);
            result.correct_membrane += count_correct(&membrane_predictions(&out.membrane_sum), &batch.labels);

            let classes = out.spike_counts.shape()[1];
            for row in out.spike_counts.data().chunks_exact(classes) {
                let max = row.iter().copied().fold(0.0_f32, f32::max);
                if max == 0.0 {
                    result.silent += 1;
                }
                if row.iter().filter(|&&c| c == max).count() > 1 {
                    result.spike_count_ties += 1;
                }
            }
        }
        Ok(result)
    };
    let tallies: Vec<Result<Evaluation, RunError>> = std::thread::scope(|scope| {
        let tally = &tally;
        let handles: Vec<_> = (1..threads).map(|k| scope.spawn(move || tally(k))).collect();
        let mut tallies = vec![tally(0)];
        tallies.extend(handles.into_iter().map(|h| h.join().expect("an evaluation thread panicked")));
        tallies
    });
    let mut result = Evaluation { images: 0, correct_rate: 0, correct_membrane: 0, spike_count_ties: 0, silent: 0, seconds: 0.0 };
    for tally in tallies {
        let tally = tally?;
        result.images += tally.images;
        result.correct_rate += tally.correct_rate;
        result.correct_membrane += tally.correct_membrane;
        result.spike_count_ties += tally.spike_count_ties;
        result.silent += tally.silent;
    }
    result.seconds = start.elapsed().as_secs_f64();
    Ok(result)
}

//! Input encoding into spikes, after snnTorch's `spikegen`: rate coding and
//! latency coding.
//!
//! Semantics, parameter names and defaults follow snnTorch 1.0's
//! `snntorch/spikegen.py` (`rate`, `rate_conv`, `latency`, `latency_code`).
//!
//! Data are `[batch, features]`. Where snnTorch returns `[num_steps, batch,
//! features]`, the output here is stacked by step, `[num_steps * batch,
//! features]` with the rows of step 0 first. That is the layout of the fused
//! forward pass and of [`crate::functional`].

use std::fmt;

use autodiff::{Float, Tensor};
use rand::{Rng, RngExt};

/// Data or a parameter that an encoder cannot use.
#[derive(Clone, Debug, PartialEq)]
pub enum SpikegenError {
    /// `num_steps` is 0.
    NumSteps,
    /// `first_spike_time` is past the last step.
    FirstSpikeTime { first_spike_time: usize, num_steps: usize },
    /// The data are not 2-D.
    DataShape { shape: Vec<usize> },
    /// A data value that the encoder cannot use.
    DataValue { index: usize, value: f64, expected: &'static str },
    /// A parameter outside its valid range.
    Parameter { name: &'static str, value: f64, expected: &'static str },
    /// The latest spike time, rounded, is past the last step.
    SpikeTimeOutOfRange { spike_time: f64, num_steps: usize },
}

impl fmt::Display for SpikegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NumSteps => write!(f, "num_steps = 0: give at least one time step"),
            Self::FirstSpikeTime { first_spike_time, num_steps } => write!(
                f,
                "first_spike_time = {first_spike_time} is past the last step of num_steps = {num_steps}: \
                 give a first_spike_time of at most {}",
                num_steps.saturating_sub(1)
            ),
            Self::DataShape { shape } => {
                write!(f, "data of shape {shape:?} are not [batch, features]: reshape them to 2-D")
            }
            Self::DataValue { index, value, expected } => {
                write!(f, "data value {value} at flat index {index} is invalid: expected {expected}")
            }
            Self::Parameter { name, value, expected } => {
                write!(f, "{name} = {value} is invalid: expected {expected}")
            }
            Self::SpikeTimeOutOfRange { spike_time, num_steps } => write!(
                f,
                "the latest spike time rounds to step {spike_time}, past the last step {} of num_steps = {num_steps}: \
                 increase num_steps, decrease tau, or set normalize",
                num_steps.saturating_sub(1)
            ),
        }
    }
}

impl std::error::Error for SpikegenError {}

/// `(batch, features)` of 2-D data.
fn data_dims<F: Float>(data: &Tensor<F>) -> Result<(usize, usize), SpikegenError> {
    match *data.shape() {
        [batch, features] => Ok((batch, features)),
        _ => Err(SpikegenError::DataShape { shape: data.shape().to_vec() }),
    }
}

fn check_steps(num_steps: usize, first_spike_time: usize) -> Result<(), SpikegenError> {
    if num_steps == 0 {
        return Err(SpikegenError::NumSteps);
    }
    if first_spike_time >= num_steps {
        return Err(SpikegenError::FirstSpikeTime { first_spike_time, num_steps });
    }
    Ok(())
}

fn check_finite(name: &'static str, value: f64) -> Result<(), SpikegenError> {
    if value.is_finite() { Ok(()) } else { Err(SpikegenError::Parameter { name, value, expected: "a finite number" }) }
}

/// Returns an error for the first data value for which `valid` is false.
fn check_data<F: Float>(data: &Tensor<F>, expected: &'static str, valid: impl Fn(f64) -> bool) -> Result<(), SpikegenError> {
    match data.data().iter().position(|v| !valid(v.to_f64())) {
        Some(index) => Err(SpikegenError::DataValue { index, value: data.data()[index].to_f64(), expected }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Rate coding

/// The options of [`rate_with`]. The defaults are snnTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateOptions {
    /// Factor applied to each value before it becomes a probability.
    /// Default 1.0.
    pub gain: f64,
    /// Added after the gain. Default 0.0.
    pub offset: f64,
    /// Steps before this one carry no spike. Default 0.
    pub first_spike_time: usize,
}

impl Default for RateOptions {
    fn default() -> Self {
        Self { gain: 1.0, offset: 0.0, first_spike_time: 0 }
    }
}

/// Rate coding of static data `[batch, features]` with snnTorch's defaults:
/// at every step each feature spikes with probability equal to its value,
/// clamped to `[0, 1]`. Returns `[num_steps * batch, features]`.
///
/// # Errors
/// When the data are not 2-D or hold a NaN or infinity, or `num_steps` is 0.
pub fn rate<F: Float>(data: &Tensor<F>, num_steps: usize, rng: &mut impl Rng) -> Result<Tensor<F>, SpikegenError> {
    rate_with(data, num_steps, &RateOptions::default(), rng)
}

/// Rate coding of static data `[batch, features]`: at every step from
/// `first_spike_time` on, each feature spikes with probability
/// `clamp(gain * value + offset, 0, 1)`, independently of the other steps
/// (a Bernoulli draw from `rng`). Returns `[num_steps * batch, features]`.
///
/// NOTE: snnTorch's `time_var_input=True` is not ported. For data that
/// already vary over time, stack them by step and call [`rate_conv`].
///
/// # Errors
/// When the data are not 2-D or hold a NaN or infinity, `num_steps` is 0,
/// `first_spike_time` is past the last step, or `gain` or `offset` is not
/// finite.
pub fn rate_with<F: Float>(
    data: &Tensor<F>,
    num_steps: usize,
    options: &RateOptions,
    rng: &mut impl Rng,
) -> Result<Tensor<F>, SpikegenError> {
    let (batch, features) = data_dims(data)?;
    check_steps(num_steps, options.first_spike_time)?;
    check_finite("gain", options.gain)?;
    check_finite("offset", options.offset)?;
    check_data(data, "a finite number", f64::is_finite)?;

    let probabilities: Vec<f64> =
        data.data().iter().map(|v| (v.to_f64() * options.gain + options.offset).clamp(0.0, 1.0)).collect();

    let mut spikes = Vec::with_capacity(num_steps * data.len());
    for step in 0..num_steps {
        if step < options.first_spike_time {
            spikes.extend(std::iter::repeat_n(F::ZERO, data.len()));
        } else {
            spikes.extend(probabilities.iter().map(|&p| bernoulli::<F>(p, rng)));
        }
    }
    Ok(Tensor::from_vec(spikes, &[num_steps * batch, features]))
}

/// snnTorch's `rate_conv`: one Bernoulli draw per element of any shape,
/// with probability equal to the value clamped to `[0, 1]`. The output has
/// the shape of `data`.
///
/// # Errors
/// When the data hold a NaN or infinity.
pub fn rate_conv<F: Float>(data: &Tensor<F>, rng: &mut impl Rng) -> Result<Tensor<F>, SpikegenError> {
    check_data(data, "a finite number", f64::is_finite)?;
    let spikes = data.data().iter().map(|v| bernoulli(v.to_f64().clamp(0.0, 1.0), rng)).collect();
    Ok(Tensor::from_vec(spikes, data.shape()))
}

/// 1 with probability `p`, else 0. A uniform draw in `[0, 1)` is below `p`
/// with probability `p`, so `p = 0` never spikes and `p = 1` always does.
fn bernoulli<F: Float>(p: f64, rng: &mut impl Rng) -> F {
    if rng.random::<f64>() < p { F::ONE } else { F::ZERO }
}

// ---------------------------------------------------------------------------
// Latency coding

/// The options of [`latency`] and [`latency_code`]. The defaults are
/// snnTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyOptions {
    /// Values below it spike at the latest time, or never with `clip`.
    /// Must be in `(0, 1)`. Default 0.01.
    pub threshold: f64,
    /// Time constant of the RC model that sets the spike time, in steps.
    /// Must be positive. Default 1.0.
    pub tau: f64,
    /// Every spike time is shifted by this many steps. Default 0.
    pub first_spike_time: usize,
    /// Output value at a spike. Default 1.0.
    pub on_target: f64,
    /// Output value elsewhere. Default 0.0. As in snnTorch, the output is
    /// `max(spike * on_target, off_target)`, so a negative `off_target`
    /// has no effect.
    pub off_target: f64,
    /// Values below `threshold` do not spike at all. Default false.
    pub clip: bool,
    /// Stretch the spike times so that the latest falls on the last step
    /// (`num_steps - 1`). Default false.
    pub normalize: bool,
    /// Spike times linear in the value, in place of the RC model's
    /// logarithm. Default false.
    pub linear: bool,
    /// Added to `threshold` where the logarithmic code clamps small
    /// values, so that the logarithm stays finite. Default 1e-7.
    pub epsilon: f64,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        Self {
            threshold: 0.01,
            tau: 1.0,
            first_spike_time: 0,
            on_target: 1.0,
            off_target: 0.0,
            clip: false,
            normalize: false,
            linear: false,
            epsilon: 1e-7,
        }
    }
}

impl LatencyOptions {
    fn check(&self, num_steps: usize) -> Result<(), SpikegenError> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            let expected = "a value strictly between 0 and 1";
            return Err(SpikegenError::Parameter { name: "threshold", value: self.threshold, expected });
        }
        if !(self.tau > 0.0 && self.tau.is_finite()) {
            return Err(SpikegenError::Parameter { name: "tau", value: self.tau, expected: "a positive, finite time constant" });
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return Err(SpikegenError::Parameter { name: "epsilon", value: self.epsilon, expected: "a small non-negative number" });
        }
        check_finite("on_target", self.on_target)?;
        check_finite("off_target", self.off_target)?;
        check_steps(num_steps, self.first_spike_time)
    }
}

/// snnTorch's `latency_code`: the spike time of each value of `data`
/// `[batch, features]`, in steps, with the shape of `data`. Times are real
/// numbers; [`latency`] rounds them to steps.
///
/// - Logarithmic (default), the time an RC circuit driven by the value
///   takes to charge to `threshold`: `tau * ln(v / (v - threshold))`, with
///   `v` clamped from below to `threshold + epsilon`.
/// - `linear`: `tau * (1 - value)`, capped at `tau * (1 - threshold)`.
///
/// Then `first_spike_time` is added. With `normalize`, the logarithmic
/// times are scaled so that the latest time over the whole batch is
/// `num_steps - 1`, and the linear code uses `tau = num_steps - 1 -
/// first_spike_time` in place of `tau`.
///
/// # Errors
/// When the data are not 2-D or not all in `[0, 1]`, or an option is out of
/// range (see [`LatencyOptions`]), `num_steps` is 0 or `first_spike_time`
/// is past the last step.
pub fn latency_code<F: Float>(data: &Tensor<F>, num_steps: usize, options: &LatencyOptions) -> Result<Tensor<F>, SpikegenError> {
    data_dims(data)?;
    check_data(data, "a value in [0, 1]", |v| (0.0..=1.0).contains(&v))?;
    options.check(num_steps)?;

    // The arithmetic follows snnTorch's order of operations, so that f64
    // times round to the same steps.
    let shift = F::from_f64(options.first_spike_time as f64);
    let times = if options.linear {
        let tau = if options.normalize { (num_steps - 1 - options.first_spike_time) as f64 } else { options.tau };
        let cap = F::from_f64(-tau * (options.threshold - 1.0));
        let neg_tau = F::from_f64(-tau);
        data.map(|v| min(neg_tau * (v - F::ONE), cap) + shift)
    } else {
        log_code(data, num_steps, options)
    };
    Ok(times)
}

/// Computes the logarithmic latency code, `normalize` included.
fn log_code<F: Float>(data: &Tensor<F>, num_steps: usize, options: &LatencyOptions) -> Tensor<F> {
    let threshold = F::from_f64(options.threshold);
    let floor = F::from_f64(options.threshold + options.epsilon);
    let tau = F::from_f64(options.tau);
    let shift = F::from_f64(options.first_spike_time as f64);

    let mut times = data.map(|v| {
        let v = v.max(floor);
        tau * (v / (v - threshold)).ln()
    });
    if options.first_spike_time > 0 {
        times = times.map(|t| t + shift);
    }

    if options.normalize {
        // The latest time over the whole tensor, the batch included, as in
        // snnTorch; it is positive because every time above is.
        let latest = times.data().iter().map(|&t| t - shift).fold(F::ZERO, F::max);
        let span = F::from_f64((num_steps - options.first_spike_time - 1) as f64);
        times = times.map(|t| (t - shift) * span / latest + shift);
    }
    times
}

fn min<F: Float>(a: F, b: F) -> F {
    if b < a { b } else { a }
}

/// Latency coding of data `[batch, features]` in `[0, 1]`: each feature
/// spikes once, at its [`latency_code`] time rounded to a step (half to
/// even, as `torch.round` does). Large values spike early, small ones
/// late. Returns `[num_steps * batch, features]` holding `max(spike *
/// on_target, off_target)`.
///
/// With `clip`, values below `threshold` do not spike.
///
/// NOTE: snnTorch's `interpolate` and `bypass` options are not ported, so
/// `num_steps` is always required. A spike time past the last step is an
/// error, as in snnTorch without `bypass`.
///
/// # Errors
/// The errors of [`latency_code`], and
/// [`SpikegenError::SpikeTimeOutOfRange`] when the latest spike time rounds
/// past the last step. The check covers the values that `clip` silences,
/// as snnTorch's does.
pub fn latency<F: Float>(data: &Tensor<F>, num_steps: usize, options: &LatencyOptions) -> Result<Tensor<F>, SpikegenError> {
    let (batch, features) = data_dims(data)?;
    let times = latency_code(data, num_steps, options)?;

    let last_step = (num_steps - 1) as f64;
    let latest = times.data().iter().map(|t| t.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    if !latest.is_finite() || latest.round_ties_even() > last_step {
        return Err(SpikegenError::SpikeTimeOutOfRange { spike_time: latest.round_ties_even(), num_steps });
    }

    let on = F::from_f64(options.on_target);
    let off = F::from_f64(options.off_target);
    let threshold = F::from_f64(options.threshold);
    let silent = F::ZERO.max(off);
    let mut spikes = vec![silent; num_steps * data.len()];

    for (i, (&time, &value)) in times.data().iter().zip(data.data()).enumerate() {
        if options.clip && value < threshold {
            continue;
        }
        // Every time rounds to at most the last step (checked above).
        let step = time.to_f64().min(last_step).round_ties_even() as usize;
        spikes[step * data.len() + i] = on.max(off);
    }
    Ok(Tensor::from_vec(spikes, &[num_steps * batch, features]))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn row(values: &[f64]) -> Tensor<f64> {
        Tensor::from_vec(values.to_vec(), &[1, values.len()])
    }

    /// Returns the step at which each feature of a one-row encoding spiked.
    fn spike_steps(spikes: &Tensor<f64>, on: f64) -> Vec<Option<usize>> {
        let (steps, features) = spikes.dims2("spike_steps");
        (0..features).map(|f| (0..steps).find(|&t| spikes.data()[t * features + f] == on)).collect()
    }

    #[test]
    fn rate_layout_and_extremes() {
        let mut rng = StdRng::seed_from_u64(0);
        let data = Tensor::<f32>::from_vec(vec![0.0, 1.0, -3.0, 7.0], &[2, 2]);
        let spikes = rate(&data, 3, &mut rng).unwrap();
        assert_eq!(spikes.shape(), &[6, 2]);
        // p = 0 never spikes, p = 1 always does; values outside [0, 1] are clamped.
        for step in spikes.data().chunks_exact(4) {
            assert_eq!(step, &[0.0, 1.0, 0.0, 1.0]);
        }
    }

    #[test]
    fn rate_frequency_follows_value() {
        let mut rng = StdRng::seed_from_u64(1);
        let steps = 20_000;
        let spikes = rate(&row(&[0.3]), steps, &mut rng).unwrap();
        let frequency = spikes.sum() / steps as f64;
        // Binomial standard deviation: sqrt(0.3 * 0.7 / 20000) = 0.0032.
        assert!((frequency - 0.3).abs() < 0.02, "frequency {frequency}");
    }

    #[test]
    fn rate_is_reproducible_per_seed() {
        let data = row(&[0.2, 0.5, 0.8]);
        let first = rate(&data, 10, &mut StdRng::seed_from_u64(7)).unwrap();
        let second = rate(&data, 10, &mut StdRng::seed_from_u64(7)).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn rate_gain_offset_and_first_spike_time() {
        let mut rng = StdRng::seed_from_u64(2);
        // gain 0 and offset 1 make every probability 1.
        let options = RateOptions { gain: 0.0, offset: 1.0, first_spike_time: 2 };
        let spikes = rate_with(&row(&[0.0, 0.4]), 4, &options, &mut rng).unwrap();
        assert_eq!(spikes.data(), &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn rate_rejects_bad_input() {
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(rate(&row(&[0.5]), 0, &mut rng).unwrap_err(), SpikegenError::NumSteps);
        let err = rate(&row(&[0.5, f64::NAN]), 2, &mut rng).unwrap_err();
        assert!(err.to_string().contains("at flat index 1"), "{err}");
        let err = rate(&Tensor::<f64>::zeros(&[3]), 2, &mut rng).unwrap_err();
        assert_eq!(err, SpikegenError::DataShape { shape: vec![3] });
        let options = RateOptions { first_spike_time: 2, ..RateOptions::default() };
        let err = rate_with(&row(&[0.5]), 2, &options, &mut rng).unwrap_err();
        assert!(err.to_string().contains("at most 1"), "{err}");
    }

    #[test]
    fn rate_conv_keeps_shape() {
        let mut rng = StdRng::seed_from_u64(4);
        let data = Tensor::<f64>::from_vec(vec![1.0, 0.0, 2.0], &[3]);
        assert_eq!(rate_conv(&data, &mut rng).unwrap().data(), &[1.0, 0.0, 1.0]);
    }

    #[test]
    fn latency_linear_normalized_by_hand() {
        // snnTorch's docstring example: [0.02, 0.5, 1] over 5 steps.
        // tau = 4: times 4 (1 - v), capped at 4 (1 - 0.01) = 3.96, give
        // [3.92, 2, 0], rounded to steps [4, 2, 0].
        let options = LatencyOptions { normalize: true, linear: true, ..LatencyOptions::default() };
        let spikes = latency(&row(&[0.02, 0.5, 1.0]), 5, &options).unwrap();
        assert_eq!(spikes.shape(), &[5, 3]);
        assert_eq!(spike_steps(&spikes, 1.0), vec![Some(4), Some(2), Some(0)]);
        assert_eq!(spikes.sum(), 3.0);
    }

    #[test]
    fn latency_log_by_hand() {
        // tau ln(v / (v - 0.01)): v = 1 gives 0.01, v = 0.02 gives ln 2 = 0.69,
        // v = 0.011 gives ln 11 = 2.40, and v = 0 is clamped to 0.0100001,
        // giving ln(100001) = 11.51.
        let data = row(&[1.0, 0.02, 0.011, 0.0]);
        let times = latency_code(&data, 13, &LatencyOptions::default()).unwrap();
        let want = [(1.0_f64 / 0.99).ln(), 2.0_f64.ln(), 11.0_f64.ln(), (0.0100001_f64 / (0.0100001 - 0.01)).ln()];
        for (t, w) in times.data().iter().zip(want) {
            assert!((t - w).abs() < 1e-9, "{t} vs {w}");
        }
        let spikes = latency(&data, 13, &LatencyOptions::default()).unwrap();
        assert_eq!(spike_steps(&spikes, 1.0), vec![Some(0), Some(1), Some(2), Some(12)]);
    }

    #[test]
    fn latency_too_few_steps_is_error() {
        // v = 0 spikes at 11.51, step 12, past the last step 11.
        let err = latency(&row(&[0.0]), 12, &LatencyOptions::default()).unwrap_err();
        assert_eq!(err, SpikegenError::SpikeTimeOutOfRange { spike_time: 12.0, num_steps: 12 });
        assert!(err.to_string().contains("increase num_steps"), "{err}");
    }

    #[test]
    fn latency_clip_silences_small_values() {
        let options = LatencyOptions { clip: true, ..LatencyOptions::default() };
        let spikes = latency(&row(&[0.5, 0.005]), 13, &options).unwrap();
        assert_eq!(spike_steps(&spikes, 1.0), vec![Some(0), None]);
    }

    #[test]
    fn latency_log_normalize_puts_latest_on_last_step() {
        let options = LatencyOptions { normalize: true, tau: 5.0, first_spike_time: 1, ..LatencyOptions::default() };
        let times = latency_code(&row(&[1.0, 0.3, 0.05]), 10, &options).unwrap();
        let latest = times.data().iter().copied().fold(f64::MIN, f64::max);
        assert!((latest - 9.0).abs() < 1e-12, "{latest}");
        assert!(times.data().iter().all(|&t| t >= 1.0));
    }

    #[test]
    fn latency_on_off_targets() {
        let options = LatencyOptions { on_target: 2.0, off_target: 0.5, ..LatencyOptions::default() };
        let spikes = latency(&row(&[1.0]), 2, &options).unwrap();
        assert_eq!(spikes.data(), &[2.0, 0.5]);
        // A negative off_target has no effect: max(0, -1) = 0.
        let options = LatencyOptions { off_target: -1.0, ..LatencyOptions::default() };
        assert_eq!(latency(&row(&[1.0]), 2, &options).unwrap().data(), &[1.0, 0.0]);
    }

    #[test]
    fn latency_stacks_steps_over_batch() {
        let data = Tensor::<f32>::from_vec(vec![1.0, 0.02], &[2, 1]);
        let spikes = latency(&data, 2, &LatencyOptions::default()).unwrap();
        // Rows: step 0 of samples 0 and 1, then step 1 of both.
        assert_eq!(spikes.data(), &[1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn latency_rejects_bad_input() {
        let default = LatencyOptions::default();
        let err = latency(&row(&[0.5, 1.5]), 5, &default).unwrap_err();
        assert!(err.to_string().contains("data value 1.5 at flat index 1"), "{err}");
        for threshold in [0.0, 1.0, f64::NAN] {
            let options = LatencyOptions { threshold, ..default };
            assert!(latency(&row(&[0.5]), 5, &options).is_err(), "threshold {threshold}");
        }
        let options = LatencyOptions { tau: 0.0, ..default };
        let err = latency(&row(&[0.5]), 5, &options).unwrap_err();
        assert!(err.to_string().contains("tau = 0 is invalid"), "{err}");
        assert_eq!(latency(&row(&[0.5]), 0, &default).unwrap_err(), SpikegenError::NumSteps);
    }
}

//! Trains the tutorial network for one epoch on the digits-t10k split of
//! real MNIST digits (8,000 training and 2,000 test images) found under
//! `$SNN_DATA_DIR/digits-t10k`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use mnist_fcn::data;
use mnist_fcn::training::{self, TrainConfig};

/// The data folder, or `None` (after saying so) when `SNN_DATA_DIR` is not
/// set. Under CI a missing folder is a failure, not a skip.
fn data_root() -> Option<PathBuf> {
    match std::env::var_os("SNN_DATA_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None if std::env::var_os("CI").is_some() => panic!("SNN_DATA_DIR must be set when CI is set"),
        None => {
            eprintln!("skipped: set SNN_DATA_DIR to a folder holding digits-t10k/ to run this test");
            None
        }
    }
}

#[test]
fn one_epoch_reaches_membrane_accuracy() {
    let Some(root) = data_root() else { return };
    let data = data::load_dir(&root.join("digits-t10k")).expect("digits-t10k loads");
    assert_eq!((data.train.labels.len(), data.test.labels.len()), (8000, 2000));

    let config = TrainConfig::default();
    let outcome = training::train(&config, &data, None, &AtomicBool::new(false), |_| {}).expect("training runs");
    assert_eq!(outcome.train_loss.len(), 8000 / 128, "one iteration per full batch");
    assert_eq!(outcome.test_loss.len(), outcome.train_loss.len());
    assert!(!outcome.interrupted);

    // The loss starts near 25 * ln(10) = 57.6 (uniform logits) or above, and falls.
    let first = outcome.train_loss[0];
    let last_ten: f32 = outcome.train_loss[52..].iter().sum::<f32>() / 10.0;
    assert!(first > 40.0, "first loss {first}");
    assert!(last_ten < 0.5 * first, "loss fell from {first} only to {last_ten}");

    let eval = training::evaluate(&outcome.net, &data.test, 128, training::Encoding::Direct, 0, 2).expect("evaluation runs");
    assert_eq!(eval.images, 2000);
    let membrane = eval.accuracy_membrane();
    assert!(membrane >= 0.85, "membrane accuracy {membrane}");
    assert!(eval.accuracy_rate() > 0.5, "rate accuracy {}", eval.accuracy_rate());

    // Spike-encoded input is drawn per batch, so the thread count changes nothing.
    let tallies: Vec<_> = [1, 3]
        .into_iter()
        .map(|threads| {
            let result = training::evaluate(&outcome.net, &data.test, 128, training::Encoding::Rate, 7, threads).expect("evaluation runs");
            (result.images, result.correct_rate, result.correct_membrane, result.spike_count_ties, result.silent)
        })
        .collect();
    assert_eq!(tallies[0], tallies[1]);
    assert_eq!(tallies[0].0, 2000);
    assert!(tallies[0].2 > 1000, "rate-encoded input should still classify most images: {:?}", tallies[0]);
}

#[test]
fn more_threads_than_samples_still_trains() {
    let Some(root) = data_root() else { return };
    let data = data::load_dir(&root.join("digits-t10k")).expect("digits-t10k loads");
    let config = TrainConfig { hidden: 50, num_steps: 5, batch_size: 4, threads: 9, report_every: 1, ..TrainConfig::default() };
    // A few iterations are enough: each one after the first evaluates the
    // previous test minibatch in parts, none of which may be empty.
    let stop = AtomicBool::new(false);
    let mut reports = 0;
    let outcome = training::train(&config, &data, None, &stop, |_| {
        reports += 1;
        if reports == 3 {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let outcome = outcome.expect("training runs with more threads than samples");
    assert!(outcome.interrupted);
    assert!(outcome.train_loss.len() >= 3, "{} iterations", outcome.train_loss.len());
    assert_eq!(outcome.test_loss.len(), outcome.train_loss.len());
    assert!(outcome.test_loss.iter().all(|l| l.is_finite()), "test losses {:?}", outcome.test_loss);
}

#[test]
fn stop_flag_ends_after_current_iteration() {
    let Some(root) = data_root() else { return };
    let data = data::load_dir(&root.join("digits-t10k")).expect("digits-t10k loads");
    let config = TrainConfig { hidden: 50, num_steps: 5, ..TrainConfig::default() };
    let stop = AtomicBool::new(true);
    let outcome = training::train(&config, &data, None, &stop, |_| {}).expect("training runs");
    assert!(outcome.interrupted);
    assert_eq!(outcome.train_loss.len(), 1);
}

#[test]
fn invalid_settings_name_the_option() {
    let cases = [
        (TrainConfig { batch_size: 0, ..TrainConfig::default() }, "--batch-size"),
        (TrainConfig { epochs: 0, ..TrainConfig::default() }, "--epochs"),
        (TrainConfig { beta: 1.5, ..TrainConfig::default() }, "--beta"),
        (TrainConfig { lr: f64::NAN, ..TrainConfig::default() }, "--lr"),
        (TrainConfig { lr: -1.0, ..TrainConfig::default() }, "--lr"),
    ];
    for (config, option) in cases {
        let err = config.validate().expect_err(option);
        assert_eq!(err.option, option);
        assert!(err.to_string().contains(option), "{err}");
    }
}

//! What a training step does with bad input: labels out of range, NaN
//! pixels, a diverging learning rate, and shapes that do not fit.

mod common;

use autodiff::{LabelError, Tape, Tensor};
use common::{parameter_bits, random_images, random_labels, small_net};
use snn::leaky::ShapeError;
use snn::{Adam, Leaky, Net, StepOutput, TrainError, train_step, train_step_unrolled};

#[test]
fn train_step_rejects_label_out_of_range() {
    let mut net = small_net::<f32>(6, 8, 3, 4, 1);
    let mut adam = Adam::new(5e-4);
    let before = parameter_bits(&net);

    let err = train_step(&mut net, &mut adam, random_images(3, 6, 2), &[0, 3, 1]).unwrap_err();
    assert_eq!(
        err,
        TrainError::Label(LabelError::OutOfRange {
            index: 1,
            label: 3,
            classes: 3
        })
    );
    let message = err.to_string();
    assert!(message.contains("class label 3"), "{message}");
    assert!(message.contains("[0, 3)"), "{message}");
    assert_eq!(parameter_bits(&net), before, "parameters changed");
    assert_eq!(adam.steps(), 0);
}

#[test]
fn train_step_rejects_label_count_mismatch() {
    let mut net = small_net::<f32>(6, 8, 3, 4, 1);
    let mut adam = Adam::new(5e-4);
    let before = parameter_bits(&net);

    let err = train_step(&mut net, &mut adam, random_images(3, 6, 2), &[0, 1]).unwrap_err();
    assert_eq!(
        err,
        TrainError::Label(LabelError::CountMismatch { labels: 2, rows: 3 })
    );
    assert_eq!(parameter_bits(&net), before, "parameters changed");
}

/// A training step, fused or unrolled.
type Step =
    fn(&mut Net<f32>, &mut Adam<f32>, Tensor<f32>, &[usize]) -> Result<StepOutput<f32>, TrainError>;

const STEPS: [(&str, Step); 2] = [
    ("train_step", train_step::<f32>),
    ("train_step_unrolled", train_step_unrolled::<f32>),
];

/// A NaN pixel makes the hidden membrane NaN. The loss stays finite (a NaN
/// membrane never spikes, so no NaN reaches the output layer), but the
/// gradients of fc1 are NaN, and the step must not write them into the
/// weights.
#[test]
fn train_step_with_nan_pixels_leaves_parameters_unchanged() {
    for (name, step) in STEPS {
        let mut net = small_net::<f32>(6, 8, 3, 4, 1);
        let mut adam = Adam::new(5e-4);
        let mut images = random_images(3, 6, 2);
        images.data_mut()[4] = f32::NAN;
        let before = parameter_bits(&net);

        let err = step(&mut net, &mut adam, images, &random_labels(3, 3, 3)).unwrap_err();
        let TrainError::NonFiniteLoss { loss } = err else {
            panic!("{name}: {err:?}")
        };
        assert!(loss.is_finite(), "{name}: loss {loss}");
        let message = err.to_string();
        assert!(
            message.contains("gradient contains NaN or infinity"),
            "{name}: {message}"
        );
        assert_eq!(parameter_bits(&net), before, "{name}: parameters changed");
        assert_eq!(adam.steps(), 0, "{name}: the optimizer advanced");
    }
}

/// A learning rate of 3e37 moves each f32 weight by about 3e37 per step, so
/// the membranes, which sum 20 inputs and 8 hidden spikes over the steps,
/// overflow within a few steps. (A rate above 3.4e37 would overflow Adam's
/// own step size `lr / (1 - 0.9)` in f32 at the first step.) The step that
/// meets a non-finite loss returns the error and leaves the parameters and
/// the optimizer as they were.
#[test]
fn train_step_with_diverging_lr_stops_at_non_finite_loss() {
    for (name, step) in STEPS {
        let mut net = small_net::<f32>(20, 8, 3, 4, 1);
        let mut adam = Adam::new(3e37);
        let images = random_images(3, 20, 2);
        let labels = random_labels(3, 3, 3);

        let stopped = (0..20).any(|iteration| {
            let before = parameter_bits(&net);
            let steps_before = adam.steps();
            match step(&mut net, &mut adam, images.clone(), &labels) {
                Ok(out) => {
                    assert!(
                        out.loss.is_finite(),
                        "{name}, iteration {iteration}: an Ok step reported loss {}",
                        out.loss
                    );
                    false
                }
                Err(TrainError::NonFiniteLoss { loss }) => {
                    assert!(err_message_names_fix(loss));
                    assert_eq!(
                        parameter_bits(&net),
                        before,
                        "{name}, iteration {iteration}: parameters changed"
                    );
                    assert_eq!(
                        adam.steps(),
                        steps_before,
                        "{name}, iteration {iteration}: the optimizer advanced"
                    );
                    true
                }
                Err(other) => panic!("{name}, iteration {iteration}: unexpected error {other:?}"),
            }
        });
        assert!(
            stopped,
            "{name}: the loss and gradients stayed finite for 20 steps at lr 1e37"
        );
        assert!(
            parameter_bits(&net)
                .iter()
                .flatten()
                .all(|&bits| f64::from_bits(bits).is_finite()),
            "{name}: a parameter is not finite"
        );
    }
}

/// Returns whether the message of a non-finite loss names the loss and suggests a
/// lower learning rate.
fn err_message_names_fix(loss: f64) -> bool {
    let message = TrainError::NonFiniteLoss { loss }.to_string();
    message.contains("learning rate") && message.contains(&loss.to_string())
}

/// Runs `f`, which must panic, and returns the panic message.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the call did not panic");
    match (
        payload.downcast_ref::<String>(),
        payload.downcast_ref::<&str>(),
    ) {
        (Some(message), _) => message.clone(),
        (None, Some(message)) => message.to_string(),
        (None, None) => String::new(),
    }
}

/// Linear layers of up to 16 outputs and wider ones run different kernels;
/// both name the op and both shapes.
#[test]
fn linear_shape_mismatch_panics_with_shapes() {
    for outputs in [4, 20] {
        let message = panic_message(move || {
            let tape = Tape::new();
            let x = tape.constant(Tensor::<f32>::zeros(&[2, 3]));
            let weight = tape.leaf(Tensor::zeros(&[outputs, 5]));
            let bias = tape.leaf(Tensor::zeros(&[outputs]));
            x.linear(weight, bias);
        });
        assert!(message.starts_with("linear: "), "{message}");
        assert!(message.contains("[2, 3]"), "{message}");
        assert!(message.contains(&format!("[{outputs}, 5]")), "{message}");
    }
}

#[test]
#[should_panic(expected = "linear: bias shape [3] does not match weight shape [4, 5]")]
fn linear_bias_mismatch_panics_with_shapes() {
    let tape = Tape::new();
    let x = tape.constant(Tensor::<f32>::zeros(&[2, 5]));
    let weight = tape.leaf(Tensor::zeros(&[4, 5]));
    let bias = tape.leaf(Tensor::zeros(&[3]));
    x.linear(weight, bias);
}

/// The op itself panics on a per-neuron beta of the wrong length; callers
/// that take beta from outside check it first with `Leaky::check`.
#[test]
#[should_panic(expected = "leaky: parameter shape [3] fits neither one value nor [4]")]
fn leaky_update_wrong_beta_length_panics() {
    let leaky = Leaky::<f64>::new(0.9).with_beta_per_neuron(&[0.9, 0.8, 0.7]);
    let tape = Tape::new();
    let vars = leaky.register(&tape);
    let current = tape.constant(Tensor::zeros(&[2, 4]));
    leaky.step(&vars, current, Leaky::init_leaky(&tape, 2, 4));
}

#[test]
#[should_panic(expected = "leaky: current shape [2, 4] differs from membrane shape [2, 5]")]
fn leaky_update_membrane_mismatch_panics() {
    let leaky = Leaky::<f64>::new(0.9);
    let tape = Tape::new();
    let vars = leaky.register(&tape);
    let current = tape.constant(Tensor::zeros(&[2, 4]));
    leaky.step(&vars, current, Leaky::init_leaky(&tape, 2, 5));
}

#[test]
fn leaky_check_rejects_wrong_lengths() {
    let beta = Leaky::<f32>::new(0.9).with_beta_per_neuron(&[0.9, 0.8, 0.7]);
    assert_eq!(
        beta.check(4),
        Err(ShapeError {
            parameter: "beta",
            got: 3,
            neurons: 4
        })
    );
    assert!(beta.check(3).is_ok());

    let mut threshold = Leaky::<f32>::new(0.9);
    threshold.threshold = Tensor::from_vec(vec![1.0, 1.0], &[2]);
    assert_eq!(
        threshold.check(4),
        Err(ShapeError {
            parameter: "threshold",
            got: 2,
            neurons: 4
        })
    );
    let message = threshold.check(4).unwrap_err().to_string();
    assert!(
        message.contains("threshold has 2 values for a layer of 4 neurons"),
        "{message}"
    );
}

#[test]
fn net_check_rejects_wrong_beta_length() {
    let mut net = small_net::<f32>(6, 8, 3, 4, 1);
    assert!(net.check().is_ok());
    net.lif2 = net.lif2.clone().with_beta_per_neuron(&[0.9; 8]);
    assert_eq!(
        net.check(),
        Err(ShapeError {
            parameter: "beta",
            got: 8,
            neurons: 3
        })
    );
}

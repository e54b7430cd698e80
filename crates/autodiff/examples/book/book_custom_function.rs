//! A custom function: one `Function` impl with its forward rule beside its
//! backward rule. First a ReLU written here, then the engine's Heaviside
//! spike with a surrogate gradient. Run with
//! `cargo run -p autodiff --example book_custom_function`.

use autodiff::{ATan, Float, Function, Surrogate, Tape, Tensor};

// ANCHOR: relu
/// `max(x, 0)`, element by element.
struct Relu;

impl<F: Float> Function<F> for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F> {
        inputs[0].map(|x| if x > F::ZERO { x } else { F::ZERO })
    }

    // d relu(x)/dx = 1 where x > 0, else 0
    fn backward(
        &self,
        inputs: &[&Tensor<F>],
        _output: &Tensor<F>,
        grad: &Tensor<F>,
        _needs: &[bool],
    ) -> Vec<Option<Tensor<F>>> {
        let mask = |g: F, x: F| if x > F::ZERO { g } else { F::ZERO };
        vec![Some(grad.zip_map(inputs[0], "relu backward", mask))]
    }
}
// ANCHOR_END: relu

// ANCHOR: boxcar
/// A surrogate of our own: the derivative of a ramp of the given width,
/// `1 / width` where `|x| < width / 2` and 0 elsewhere.
struct Boxcar {
    width: f64,
}

impl<F: Float> Surrogate<F> for Boxcar {
    fn grad(&self, x: F) -> F {
        let half = F::from_f64(self.width / 2.0);
        if x.abs() < half {
            F::from_f64(1.0 / self.width)
        } else {
            F::ZERO
        }
    }
}
// ANCHOR_END: boxcar

// ANCHOR: use_relu
/// Applies the ReLU to four values and returns the gradient of their sum.
fn relu_gradient() -> Vec<f64> {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::from_vec(vec![-2.0, -0.5, 0.5, 2.0], &[4]));
    let y = x.apply(Relu);
    let grads = y.sum().backward();
    println!("relu(x)        = {:?}", y.value().data());
    println!("d sum(relu)/dx = {:?}", grads.get(x).unwrap().data());
    grads.get(x).unwrap().data().to_vec()
}
// ANCHOR_END: use_relu

// ANCHOR: spike
/// Spikes membranes around the threshold 1.0 with two surrogates, and
/// returns the spikes and the ATan gradient. The forward pass is a strict
/// step, and the backward pass uses the surrogate's derivative at
/// U - threshold.
fn spike_with_surrogates() -> (Vec<f64>, Vec<f64>) {
    let membranes = vec![0.0, 0.9, 1.0, 1.1, 2.0];
    let tape = Tape::<f64>::new();
    let u = tape.leaf(Tensor::from_vec(membranes.clone(), &[5]));
    let threshold = tape.constant(Tensor::scalar(1.0));

    let spikes = u.spike(threshold, ATan::default());
    let atan_grads = spikes.sum().backward();

    let boxcar_spikes = u.spike(threshold, Boxcar { width: 0.5 });
    let boxcar_grads = boxcar_spikes.sum().backward();

    println!("U                = {membranes:?}");
    println!("S = H(U - 1)     = {:?}", spikes.value().data());
    let rounded = |g: &[f64]| {
        g.iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "dS/dU, ATan      = [{}]",
        rounded(atan_grads.get(u).unwrap().data())
    );
    println!(
        "dS/dU, boxcar    = [{}]",
        rounded(boxcar_grads.get(u).unwrap().data())
    );
    let atan = atan_grads.get(u).unwrap().data().to_vec();
    (spikes.value().data().to_vec(), atan)
}
// ANCHOR_END: spike

fn main() {
    assert_eq!(relu_gradient(), &[0.0, 0.0, 1.0, 1.0]);

    let (spikes, atan) = spike_with_surrogates();
    assert_eq!(spikes, &[0.0, 0.0, 0.0, 1.0, 1.0]);
    assert_eq!(atan[2], 1.0);
}

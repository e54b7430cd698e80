//! Backward: one reverse walk over the tape, with gradients that add up
//! where a value is used more than once. Run with
//! `cargo run -p autodiff --example book_backward`.

use autodiff::{Tape, Tensor};

// ANCHOR: by_hand
/// Computes the gradients of L = sum((x w + b)^2) for x = [0.5, -1],
/// w = [2, 2], b = [0.1, 0.1], and returns dL/dw.
/// With y = x w + b: dL/dy = 2y, dL/dw = 2y x, dL/db = 2y.
fn gradient_by_hand() -> Vec<f64> {
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::from_vec(vec![0.5, -1.0], &[2]));
    let w = tape.leaf(Tensor::from_vec(vec![2.0, 2.0], &[2]));
    let b = tape.leaf(Tensor::from_vec(vec![0.1, 0.1], &[2]));
    let y = x.mul(w).add(b);
    let grads = y.mul(y).sum().backward();

    println!("y     = {:?}", y.value().data());
    println!("dL/dw = {:?}", grads.get(w).unwrap().data());
    println!("dL/db = {:?}", grads.get(b).unwrap().data());
    println!(
        "dL/dx = {:?} (x is a constant)",
        grads.get(x).map(|g| g.data().to_vec())
    );
    grads.get(w).unwrap().data().to_vec()
}
// ANCHOR_END: by_hand

// ANCHOR: reuse
/// Computes the gradient of one value used at 25 places: c = 3a, and
/// L = sum over t of k_t * c.
/// The 25 uses each send k_t back to c, and backward adds them up:
/// dL/dc = sum of k_t, so dL/da = 3 * sum of k_t.
/// Returns dL/da and 3 * sum of k_t.
fn gradient_of_reused_value() -> (f64, f64) {
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::scalar(1.0));
    let c = a.scale(3.0);
    let mut total = tape.constant(Tensor::scalar(0.0));
    let mut sum_of_k = 0.0;
    for t in 0..25 {
        let k = 0.1 * (t + 1) as f64;
        total = total.add(c.scale(k));
        sum_of_k += k;
    }
    let grads = total.backward();
    let da = grads.get(a).unwrap().item();
    println!(
        "25 uses: dL/da = {da:.4}, 3 * sum of k_t = {:.4}",
        3.0 * sum_of_k
    );
    (da, 3.0 * sum_of_k)
}
// ANCHOR_END: reuse

// ANCHOR: detach
/// Returns dL/da for L = a * detach(a). detach() keeps the value and cuts
/// the gradient, so only the first factor passes a gradient back, and
/// dL/da = a, not 2a.
fn gradient_with_detach() -> f64 {
    let tape = Tape::<f64>::new();
    let a = tape.leaf(Tensor::scalar(3.0));
    let grads = a.mul(a.detach()).backward();
    let da = grads.get(a).unwrap().item();
    println!("dL/da with a detached factor = {da}");
    da
}
// ANCHOR_END: detach

fn main() {
    let dw = gradient_by_hand();
    let expected_w = [2.0 * 1.1 * 0.5, 2.0 * -1.9 * -1.0];
    for (got, want) in dw.iter().zip(expected_w) {
        assert!((got - want).abs() < 1e-12, "dL/dw {got} vs {want}");
    }

    let (da, expected) = gradient_of_reused_value();
    assert!((da - expected).abs() < 1e-12, "dL/da {da} vs {expected}");

    assert_eq!(gradient_with_detach(), 3.0);
}

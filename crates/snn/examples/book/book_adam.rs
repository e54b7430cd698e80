//! Adam as PyTorch computes it, on two parameters whose gradients differ by
//! a factor of a million. Run with `cargo run -p snn --example book_adam`.

use autodiff::Tensor;
use snn::Adam;

// ANCHOR: adam
/// Minimizes L = 1000 (p0 - 1)^2 + 0.001 (p1 - 1)^2 with five Adam steps
/// from p = [0, 0], and returns p.
fn minimize_with_adam() -> Tensor<f64> {
    let gradient = |p: &Tensor<f64>| {
        let (p0, p1) = (p.data()[0], p.data()[1]);
        Tensor::from_vec(vec![2000.0 * (p0 - 1.0), 0.002 * (p1 - 1.0)], &[2])
    };
    let mut adam = Adam::<f64>::new(0.1);
    let mut p = Tensor::from_vec(vec![0.0, 0.0], &[2]);

    println!("step        dL/dp0      dL/dp1        p0        p1");
    for _ in 0..5 {
        let g = gradient(&p);
        adam.step(vec![&mut p], std::slice::from_ref(&g));
        println!(
            "{:>4} {:>12.4} {:>11.6} {:>9.4} {:>9.4}",
            adam.steps(),
            g.data()[0],
            g.data()[1],
            p.data()[0],
            p.data()[1]
        );
    }
    p
}
// ANCHOR_END: adam

fn main() {
    let p = minimize_with_adam();
    // The first step is lr * g / |g| (up to eps) for each parameter.
    assert!((p.data()[1] - 0.5).abs() < 0.05);
}

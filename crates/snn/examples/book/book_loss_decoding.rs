//! Tutorial 5's loss (cross-entropy of the output membrane at every step,
//! summed) and three ways to read a prediction from the output layer. Run
//! with `cargo run -p snn --example book_loss_decoding`.

use autodiff::{Tape, Tensor};
use snn::loss::{
    argmax_rows, membrane_cross_entropy, membrane_predictions, rate_predictions,
};

/// Latency decoding: the class whose neuron spiked first. `spikes[t]` is
/// `[batch, classes]`. Ties go to the lowest class; a silent sample is `None`.
fn latency_predictions(spikes: &[Tensor<f64>]) -> Vec<Option<usize>> {
    let (batch, classes) = spikes[0].dims2("latency");
    (0..batch)
        .map(|b| {
            spikes.iter().find_map(|s| {
                (0..classes).find(|&c| s.data()[b * classes + c] > 0.0)
            })
        })
        .collect()
}

// ANCHOR: loss
/// Prints Tutorial 5's loss on the output membranes of 2 samples x 3 classes
/// at 3 steps, labels 2 and 0, and the gradient of the first step's
/// membranes.
fn summed_loss_and_gradient() {
    let membranes = [
        vec![0.1, 0.2, 0.9, 0.5, 0.1, 0.0],
        vec![0.0, 0.1, 1.3, 0.9, 0.2, 0.1],
        vec![-0.2, 0.0, 1.1, 1.2, 0.3, 0.0],
    ];
    let labels = [2, 0];
    let tape = Tape::<f64>::new();
    let mem2: Vec<_> = membranes
        .iter()
        .map(|m| tape.leaf(Tensor::from_vec(m.clone(), &[2, 3])))
        .collect();

    let loss = membrane_cross_entropy(&mem2, &labels).unwrap();
    for (t, mem) in mem2.iter().enumerate() {
        println!(
            "step {t}: cross-entropy {:.4}",
            mem.cross_entropy(&labels).unwrap().item()
        );
    }
    println!("summed loss {:.4}", loss.item());

    // Every step gets its own gradient: (softmax(U2[t]) - onehot) / batch.
    let grads = loss.backward();
    let rounded: Vec<String> = grads
        .get(mem2[0])
        .unwrap()
        .data()
        .iter()
        .map(|g| format!("{g:+.4}"))
        .collect();
    println!("dL/dU2[0] = [{}]", rounded.join(", "));
}
// ANCHOR_END: loss

// ANCHOR: decode
/// Decodes the output spikes of 4 samples over 5 steps three ways. Returns
/// the spike counts and the summed membranes, `[4, 3]` each.
fn decode_four_samples() -> (Tensor<f64>, Tensor<f64>) {
    // For each sample, one spike train per class, one character per step
    // ('|' a spike, '.' none).
    let trains = [
        [".....", "|||..", "...||"],
        ["..|.|", ".|.|.", "....."],
        ["|....", "..|||", "....."],
        [".....", ".....", "....."],
    ];
    let spikes: Vec<Tensor<f64>> = (0..5)
        .map(|t| {
            let fired = |train: &str| f64::from(train.as_bytes()[t] == b'|');
            let step = trains.iter().flat_map(|classes| classes.map(fired));
            Tensor::from_vec(step.collect(), &[4, 3])
        })
        .collect();
    let mut counts = Tensor::zeros(&[4, 3]);
    for s in &spikes {
        counts.add_assign(s);
    }
    // Summed output membranes of the same 4 samples.
    let membrane_sum = Tensor::from_vec(
        vec![1.0, 4.0, 3.0, 2.5, 3.1, 0.2, 0.5, 4.2, 0.1, 0.3, 0.2, 0.9],
        &[4, 3],
    );

    let as_counts = |row: &[f64]| row.iter().map(|&c| c as u32).collect();
    let per_sample: Vec<Vec<u32>> =
        counts.data().chunks(3).map(as_counts).collect();
    println!("spike counts: {per_sample:?}");
    println!("rate:     {:?}", rate_predictions(&counts));
    println!("latency:  {:?}", latency_predictions(&spikes));
    println!("membrane: {:?}", membrane_predictions(&membrane_sum));
    (counts, membrane_sum)
}
// ANCHOR_END: decode

fn main() {
    summed_loss_and_gradient();
    let (counts, membrane_sum) = decode_four_samples();
    assert_eq!(rate_predictions(&counts), vec![1, 0, 1, 0]);
    assert_eq!(argmax_rows(&membrane_sum), vec![1, 1, 1, 2]);
}

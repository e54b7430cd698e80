//! The loss curves of a training run, drawn from its `metrics.json`:
//! `cargo run -p snn --example book_loss_curve -- METRICS_JSON [OUT_SVG]`.
//! Without arguments it draws the run captured for the book.

#[allow(dead_code)]
mod svg;

use serde_json::Value;
use svg::{Panel, Series};

const CAPTURED_RUN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../book/listings/train-digits-t10k-metrics.json"
);

/// Reads an array of numbers from the metrics file.
fn losses(metrics: &Value, key: &str) -> Vec<f64> {
    metrics[key]
        .as_array()
        .unwrap_or_else(|| panic!("metrics.json has no array {key}"))
        .iter()
        .map(|v| {
            v.as_f64().unwrap_or_else(|| {
                panic!("invalid {key} in metrics.json: {v} is not a number")
            })
        })
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let metrics_path = args.next().unwrap_or_else(|| CAPTURED_RUN.to_string());
    let text = std::fs::read_to_string(&metrics_path)
        .unwrap_or_else(|e| panic!("cannot read {metrics_path}: {e}"));
    let metrics: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{metrics_path} is not JSON: {e}"));
    let train = losses(&metrics, "train_loss");
    let test = losses(&metrics, "test_loss");

    let last = train.len().min(10);
    println!("{} iterations", train.len());
    println!(
        "training loss: first {:.2}, mean of the last {last} {:.2}",
        train[0],
        mean(&train[train.len() - last..])
    );
    println!(
        "test loss:     first {:.2}, mean of the last {last} {:.2}",
        test[0],
        mean(&test[test.len() - last..])
    );

    let points = |values: &[f64]| {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect()
    };
    let iterations = train.len() as f64;
    let x_step = if iterations > 200.0 { 100.0 } else { 10.0 };
    let y_max = (train.iter().chain(&test).fold(0.0_f64, |m, &v| m.max(v))
        / 10.0)
        .ceil()
        * 10.0;
    let panel = Panel {
        title: "Loss of every iteration, summed over the 25 steps".to_string(),
        x_label: "iteration".to_string(),
        y_label: "cross-entropy loss".to_string(),
        x_range: (0.0, iterations - 1.0),
        y_range: (0.0, y_max),
        x_ticks: (0..)
            .map(|i| i as f64 * x_step)
            .take_while(|&x| x < iterations)
            .collect(),
        y_ticks: (0..)
            .map(|i| i as f64 * 10.0)
            .take_while(|&y| y <= y_max)
            .collect(),
        series: vec![
            Series {
                label: "training batch".to_string(),
                points: points(&train),
                color: "#1f77b4",
                dashed: false,
            },
            Series {
                label: "test minibatch".to_string(),
                points: points(&test),
                color: "#ff7f0e",
                dashed: false,
            },
        ],
    };
    let figure = svg::render(&[panel], 1, (720.0, 360.0));
    svg::check_document(&figure);
    match args.next() {
        Some(path) => {
            std::fs::write(&path, &figure)
                .unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
            println!("figure written ({} bytes of SVG)", figure.len());
        }
        None => println!(
            "figure: {} bytes of SVG (pass a path to write it)",
            figure.len()
        ),
    }
}

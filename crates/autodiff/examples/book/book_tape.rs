//! The tape records every value in creation order, and that order is
//! already topological. Run with `cargo run -p autodiff --example book_tape`.

use autodiff::{Tape, Tensor, Var};

/// Prints one node: its id, the op that made it and the ids of its inputs,
/// and checks that every input was created before it.
fn show(name: &str, node: Var<'_, f64>, inputs: &[Var<'_, f64>]) {
    let ids: Vec<String> =
        inputs.iter().map(|v| format!("node {}", v.id())).collect();
    let made_by = if inputs.is_empty() {
        "registered".to_string()
    } else {
        format!("from {}", ids.join(", "))
    };
    println!(
        "node {}: {name:<10} {made_by:<24} needs grad: {}",
        node.id(),
        node.requires_grad()
    );
    for input in inputs {
        assert!(
            input.id() < node.id(),
            "an input must come before the node that uses it"
        );
    }
}

// ANCHOR: record
/// Records one neuron's input current, y = x w + b, then a loss
/// L = sum(y * y). Returns the seven nodes in the order they were made.
fn record(tape: &Tape<f64>) -> [Var<'_, f64>; 7] {
    let x = tape.constant(Tensor::from_vec(vec![0.5, -1.0], &[2]));
    let w = tape.leaf(Tensor::from_vec(vec![2.0, 2.0], &[2]));
    let b = tape.leaf(Tensor::from_vec(vec![0.1, 0.1], &[2]));
    let xw = x.mul(w);
    let y = xw.add(b);
    let squared = y.mul(y);
    let loss = squared.sum();
    [x, w, b, xw, y, squared, loss]
}
// ANCHOR_END: record

// ANCHOR: order
/// Prints each node with the nodes it was made from.
fn print_order(tape: &Tape<f64>, nodes: [Var<'_, f64>; 7]) {
    let [x, w, b, xw, y, squared, loss] = nodes;
    show("x", x, &[]);
    show("w", w, &[]);
    show("b", b, &[]);
    show("x * w", xw, &[x, w]);
    show("xw + b", y, &[xw, b]);
    show("y * y", squared, &[y, y]);
    show("sum", loss, &[squared]);
    println!(
        "the tape holds {} nodes; L = {:.4}",
        tape.len(),
        loss.item()
    );
}
// ANCHOR_END: order

// ANCHOR: constants
/// Doubles the constant `x`. An op whose inputs are all constants records
/// no backward rule: the result is a constant too, and backward skips it.
fn double_constant(x: Var<'_, f64>) {
    let doubled = x.scale(2.0);
    show("2 x", doubled, &[x]);
}
// ANCHOR_END: constants

fn main() {
    let tape = Tape::<f64>::new();
    let nodes = record(&tape);
    print_order(&tape, nodes);
    let [x, ..] = nodes;
    double_constant(x);
    assert_eq!(tape.len(), 8);
}

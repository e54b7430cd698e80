//! The contents of the tape after one training step's forward pass: the
//! number of nodes and the bytes of their values, for a small network and
//! for Tutorial 5's sizes.
//! Run with `cargo run --release -p snn --example book_tape_memory`.

use autodiff::{Tape, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;
use snn::loss::membrane_cross_entropy_value;
use snn::{Leaky, Linear, Net, NetConfig};

// ANCHOR: ledger
/// The nodes a forward pass created, by kind, so their bytes can be added up.
#[derive(Default)]
struct Ledger<'t> {
    kinds: Vec<(&'static str, Vec<Var<'t, f32>>)>,
}

impl<'t> Ledger<'t> {
    fn keep(&mut self, kind: &'static str, var: Var<'t, f32>) -> Var<'t, f32> {
        match self.kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, vars)) => vars.push(var),
            None => self.kinds.push((kind, vec![var])),
        }
        var
    }

    fn nodes(&self) -> usize {
        self.kinds.iter().map(|(_, vars)| vars.len()).sum()
    }
}

fn bytes(vars: &[Var<'_, f32>]) -> usize {
    vars.iter()
        .map(|v| v.value().len() * std::mem::size_of::<f32>())
        .sum()
}
// ANCHOR_END: ledger

// ANCHOR: forward
/// Records one training step's forward pass, fc1(x) computed once, the loss
/// summed over the steps, and every node in `ledger`.
fn record<'t>(
    net: &Net<f32>,
    tape: &'t Tape<f32>,
    images: Tensor<f32>,
    labels: &[usize],
    ledger: &mut Ledger<'t>,
) {
    let batch = images.shape()[0];
    let vars = net.register(tape);
    for leaf in net.parameter_vars(&vars) {
        ledger.keep("parameters", leaf);
    }
    for constant in [
        vars.lif1.beta,
        vars.lif1.threshold,
        vars.lif2.beta,
        vars.lif2.threshold,
    ] {
        ledger.keep("beta and threshold", constant);
    }
    let x = ledger.keep("input x", tape.constant(images));
    let cur1 = ledger.keep("fc1(x)", Linear::forward(&vars.fc1, x));
    let mut mem1 = ledger.keep(
        "initial membranes",
        Leaky::init_leaky(tape, batch, net.fc1.outputs()),
    );
    let mut mem2 = ledger.keep(
        "initial membranes",
        Leaky::init_leaky(tape, batch, net.fc2.outputs()),
    );

    let mut mem2_record = Vec::new();
    for _ in 0..net.num_steps {
        let (spk1, next1) = net.lif1.step(&vars.lif1, cur1, mem1);
        mem1 = ledger.keep("hidden membranes U1[t]", next1);
        ledger.keep("hidden spikes S1[t]", spk1);
        let cur2 = ledger.keep("fc2(S1[t])", Linear::forward(&vars.fc2, spk1));
        let (spk2, next2) = net.lif2.step(&vars.lif2, cur2, mem2);
        mem2 = ledger.keep("output membranes U2[t]", next2);
        ledger.keep("output spikes S2[t]", spk2);
        mem2_record.push(mem2);
    }

    // The loss adds one cross-entropy node per step and one node per sum.
    let mut loss = ledger.keep(
        "loss terms and sums",
        mem2_record[0].cross_entropy(labels).unwrap(),
    );
    for mem in &mem2_record[1..] {
        let step_loss = ledger
            .keep("loss terms and sums", mem.cross_entropy(labels).unwrap());
        loss = ledger.keep("loss terms and sums", loss.add(step_loss));
    }
    let values: Vec<Tensor<f32>> = mem2_record
        .iter()
        .map(|m| m.value().as_ref().clone())
        .collect();
    let expected = membrane_cross_entropy_value(&values, labels);
    assert!((loss.item() - expected).abs() <= 1e-5 * expected);
}
// ANCHOR_END: forward

// ANCHOR: small
/// Counts the nodes of a 12-16-4 network on a batch of 3 for 1, 2, 3 and 25
/// steps: the tape grows by the same number of nodes with every time step.
fn count_nodes_per_step(rng: &mut StdRng) {
    for steps in [1, 2, 3, 25] {
        let config = NetConfig {
            num_inputs: 12,
            num_hidden: 16,
            num_outputs: 4,
            num_steps: steps,
            beta: 0.9,
        };
        let net = Net::<f32>::new(&config, rng);
        let tape = Tape::new();
        let mut ledger = Ledger::default();
        record(
            &net,
            &tape,
            Tensor::full(&[3, 12], 0.5),
            &[0, 1, 2],
            &mut ledger,
        );
        assert_eq!(
            ledger.nodes(),
            tape.len(),
            "the ledger must account for every node"
        );
        println!("{steps:>2} steps: tape.len() = {}", tape.len());
    }
}
// ANCHOR_END: small

// ANCHOR: tutorial
/// Adds up the nodes and bytes on the tape at Tutorial 5's sizes:
/// 784-1000-10, batch 128, 25 steps, f32.
fn tally_tutorial_tape(rng: &mut StdRng) {
    let net = Net::<f32>::new(&NetConfig::default(), rng);
    let tape = Tape::new();
    let mut ledger = Ledger::default();
    let labels: Vec<usize> = (0..128).map(|i| i % 10).collect();
    record(
        &net,
        &tape,
        Tensor::full(&[128, 784], 0.5),
        &labels,
        &mut ledger,
    );
    assert_eq!(ledger.nodes(), tape.len());

    println!(
        "\n{:<24} {:>6} {:>12}",
        "values on the tape", "nodes", "bytes"
    );
    let mut total = 0;
    for (kind, vars) in &ledger.kinds {
        println!("{kind:<24} {:>6} {:>12}", vars.len(), bytes(vars));
        total += bytes(vars);
    }
    println!(
        "{:<24} {:>6} {:>12} ({:.1} MiB)",
        "total",
        tape.len(),
        total,
        total as f64 / (1024.0 * 1024.0)
    );
}
// ANCHOR_END: tutorial

fn main() {
    let mut rng = StdRng::seed_from_u64(0);
    count_nodes_per_step(&mut rng);
    tally_tutorial_tape(&mut rng);
}

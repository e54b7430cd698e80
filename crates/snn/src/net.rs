//! The network of snnTorch Tutorial 5: Linear -> Leaky -> Linear -> Leaky,
//! unrolled over time.

use autodiff::{Float, Tape, Tensor, Var};
use rand::Rng;

use autodiff::Function;

use crate::fused::{Current, Emit, LeakyLinear, LeakyRecurrence, LeakyState};
use crate::leaky::{Leaky, LeakyVars, ShapeError};
use crate::linear::{Linear, LinearVars};

/// The shape of the network and its neurons. The defaults are Tutorial 5's.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Pixels per image. Default 784 (28 x 28).
    pub num_inputs: usize,
    /// Hidden neurons. Default 1000.
    pub num_hidden: usize,
    /// Output neurons, one per class. Default 10.
    pub num_outputs: usize,
    /// Time steps per sample. Default 25.
    pub num_steps: usize,
    /// Membrane decay of both layers. Default 0.95.
    pub beta: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self { num_inputs: 784, num_hidden: 1000, num_outputs: 10, num_steps: 25, beta: 0.95 }
    }
}

/// Tutorial 5's network. The second layer takes the hidden layer's spikes.
#[derive(Clone, Debug)]
pub struct Net<F> {
    pub fc1: Linear<F>,
    pub lif1: Leaky<F>,
    pub fc2: Linear<F>,
    pub lif2: Leaky<F>,
    pub num_steps: usize,
}

/// The network's parameters registered on one tape.
pub struct NetVars<'t, F: Float> {
    pub fc1: LinearVars<'t, F>,
    pub lif1: LeakyVars<'t, F>,
    pub fc2: LinearVars<'t, F>,
    pub lif2: LeakyVars<'t, F>,
}

/// The values one step of the unrolled network computed, on the tape.
pub struct StepRecord<'t, F: Float> {
    pub cur1: Var<'t, F>,
    pub spk1: Var<'t, F>,
    pub mem1: Var<'t, F>,
    pub cur2: Var<'t, F>,
    pub spk2: Var<'t, F>,
    pub mem2: Var<'t, F>,
}

/// The fused forward pass on the tape: every step of each layer in one op.
pub struct FusedRecord<'t, F: Float> {
    /// The output layer's input current of all steps, `fc2(spk1)`,
    /// `[steps * batch, outputs]`.
    pub cur2: Var<'t, F>,
    /// Output membranes of all steps, `[steps * batch, outputs]`.
    pub mem2: Var<'t, F>,
}

/// The result of a forward pass without a tape.
#[derive(Clone, Debug)]
pub struct Inference<F> {
    /// Output spikes summed over the steps, `[batch, outputs]`.
    pub spike_counts: Tensor<F>,
    /// Output membrane summed over the steps, `[batch, outputs]`.
    pub membrane_sum: Tensor<F>,
    /// Output membrane of every step, `num_steps` tensors `[batch, outputs]`.
    pub mem2: Vec<Tensor<F>>,
}

impl<F: Float> Net<F> {
    /// A network with PyTorch's default initialisation and the fixed beta
    /// of `config` in both layers.
    pub fn new(config: &NetConfig, rng: &mut impl Rng) -> Self {
        Self {
            fc1: Linear::new(config.num_inputs, config.num_hidden, rng),
            lif1: Leaky::new(config.beta),
            fc2: Linear::new(config.num_hidden, config.num_outputs, rng),
            lif2: Leaky::new(config.beta),
            num_steps: config.num_steps,
        }
    }

    /// Checks that the layers fit together and each Leaky's parameters fit
    /// its layer.
    pub fn check(&self) -> Result<(), ShapeError> {
        assert_eq!(
            self.fc1.outputs(),
            self.fc2.inputs(),
            "Net: fc1 has {} outputs but fc2 takes {} inputs",
            self.fc1.outputs(),
            self.fc2.inputs()
        );
        self.lif1.check(self.fc1.outputs())?;
        self.lif2.check(self.fc2.outputs())
    }

    /// The trained parameters in a fixed order with PyTorch's names:
    /// `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`, then each
    /// learnable beta and threshold.
    pub fn parameters(&self) -> Vec<(String, &Tensor<F>)> {
        let mut out = vec![
            ("fc1.weight".to_string(), &self.fc1.weight),
            ("fc1.bias".to_string(), &self.fc1.bias),
            ("fc2.weight".to_string(), &self.fc2.weight),
            ("fc2.bias".to_string(), &self.fc2.bias),
        ];
        for (name, lif) in [("lif1", &self.lif1), ("lif2", &self.lif2)] {
            if lif.learn_beta {
                out.push((format!("{name}.beta"), &lif.beta));
            }
        }
        for (name, lif) in [("lif1", &self.lif1), ("lif2", &self.lif2)] {
            if lif.learn_threshold {
                out.push((format!("{name}.threshold"), &lif.threshold));
            }
        }
        out
    }

    /// The same parameters as [`Net::parameters`], in the same order, for
    /// the optimizer to update.
    pub fn parameters_mut(&mut self) -> Vec<&mut Tensor<F>> {
        let mut out = vec![&mut self.fc1.weight, &mut self.fc1.bias, &mut self.fc2.weight, &mut self.fc2.bias];
        if self.lif1.learn_beta {
            out.push(&mut self.lif1.beta);
        }
        if self.lif2.learn_beta {
            out.push(&mut self.lif2.beta);
        }
        if self.lif1.learn_threshold {
            out.push(&mut self.lif1.threshold);
        }
        if self.lif2.learn_threshold {
            out.push(&mut self.lif2.threshold);
        }
        out
    }

    /// Registers every parameter on `tape`.
    pub fn register<'t>(&self, tape: &'t Tape<F>) -> NetVars<'t, F> {
        NetVars {
            fc1: self.fc1.register(tape),
            lif1: self.lif1.register(tape),
            fc2: self.fc2.register(tape),
            lif2: self.lif2.register(tape),
        }
    }

    /// The leaves of `vars` in the order of [`Net::parameters`].
    pub fn parameter_vars<'t>(&self, vars: &NetVars<'t, F>) -> Vec<Var<'t, F>> {
        let mut out = vec![vars.fc1.weight, vars.fc1.bias, vars.fc2.weight, vars.fc2.bias];
        if self.lif1.learn_beta {
            out.push(vars.lif1.beta);
        }
        if self.lif2.learn_beta {
            out.push(vars.lif2.beta);
        }
        if self.lif1.learn_threshold {
            out.push(vars.lif1.threshold);
        }
        if self.lif2.learn_threshold {
            out.push(vars.lif2.threshold);
        }
        out
    }

    /// Runs the network over `num_steps` on the tape, the static input
    /// `x: [batch, inputs]` fed at every step.
    ///
    /// `fc1(x)` is the same at every step, so it is computed once and used
    /// at every step. Backward then sums its gradient over those uses, which
    /// gives exactly the gradient of recomputing it at each step.
    // ANCHOR: net_forward
    pub fn forward<'t>(&self, vars: &NetVars<'t, F>, x: Var<'t, F>) -> Vec<StepRecord<'t, F>> {
        let tape = x.tape();
        let batch = x.shape()[0];
        let cur1 = Linear::forward(&vars.fc1, x);
        let mut mem1 = Leaky::init_leaky(tape, batch, self.fc1.outputs());
        let mut mem2 = Leaky::init_leaky(tape, batch, self.fc2.outputs());

        let mut records = Vec::with_capacity(self.num_steps);
        for _ in 0..self.num_steps {
            let (spk1, next1) = self.lif1.step(&vars.lif1, cur1, mem1);
            mem1 = next1;
            let cur2 = Linear::forward(&vars.fc2, spk1);
            let (spk2, next2) = self.lif2.step(&vars.lif2, cur2, mem2);
            mem2 = next2;
            records.push(StepRecord { cur1, spk1, mem1, cur2, spk2, mem2 });
        }
        records
    }
    // ANCHOR_END: net_forward

    // ANCHOR: net_forward_fused
    /// Runs the network over `num_steps` on the tape with the fused ops of
    /// [`crate::fused`]: three nodes in all, whatever the number of steps.
    /// The values and gradients equal [`Net::forward`]'s.
    pub fn forward_fused<'t>(&self, vars: &NetVars<'t, F>, x: Var<'t, F>) -> FusedRecord<'t, F> {
        self.forward_fused_input(vars, x, Current::Static)
    }

    /// [`Net::forward_fused`] for an input that changes from step to step,
    /// such as spike-encoded images: `x_steps` is `[num_steps * batch,
    /// inputs]`, the rows of step 0 first.
    pub fn forward_fused_steps<'t>(&self, vars: &NetVars<'t, F>, x_steps: Var<'t, F>) -> FusedRecord<'t, F> {
        self.forward_fused_input(vars, x_steps, Current::PerStep)
    }

    fn forward_fused_input<'t>(&self, vars: &NetVars<'t, F>, x: Var<'t, F>, input: Current) -> FusedRecord<'t, F> {
        let tape = x.tape();
        let cur1 = Linear::forward(&vars.fc1, x);
        let hidden = self.hidden_layer(input);
        let cur2 = tape.apply(hidden, &[cur1, vars.lif1.beta, vars.lif1.threshold, vars.fc2.weight, vars.fc2.bias]);
        let layer2 = self.recurrence(&self.lif2, Current::PerStep, Emit::Membrane);
        let mem2 = tape.apply(layer2, &[cur2, vars.lif2.beta, vars.lif2.threshold]);
        FusedRecord { cur2, mem2 }
    }
    // ANCHOR_END: net_forward_fused

    /// Returns the op that runs the hidden Leaky layer and `fc2`.
    fn hidden_layer(&self, input: Current) -> LeakyLinear {
        LeakyLinear::new(self.lif1.reset_mechanism, self.lif1.spike_grad, self.num_steps, input)
    }

    fn recurrence(&self, lif: &Leaky<F>, current: Current, emit: Emit) -> LeakyRecurrence<F> {
        LeakyRecurrence::new(lif.reset_mechanism, lif.spike_grad, self.num_steps, current, emit)
    }

    /// Runs the network without a tape, with the same rules as
    /// [`Net::forward`].
    pub fn infer(&self, x: &Tensor<F>) -> Inference<F> {
        let (batch, _) = x.dims2("Net::infer");
        self.infer_fused(&self.fc1.infer(x), batch, Current::Static)
    }

    /// Like [`Net::infer`], and calls `observe(spk1, mem2)` with each
    /// step's hidden spikes `[batch, hidden]` and output membranes
    /// `[batch, outputs]`, for figures. The results equal
    /// [`Net::infer`]'s bit for bit.
    pub fn infer_with(&self, x: &Tensor<F>, mut observe: impl FnMut(&Tensor<F>, &Tensor<F>)) -> Inference<F> {
        let (batch, _) = x.dims2("Net::infer");
        let cur1 = self.fc1.infer(x);
        let (hidden, outputs) = (self.fc1.outputs(), self.fc2.outputs());

        // Step by step, with each layer's state updated in place, so that
        // every step's hidden spikes can be shown to `observe`.
        let mut layer1 = LeakyState::new(&self.lif1, batch, hidden);
        let mut readout = Readout::new(&self.lif2, batch, outputs, self.num_steps);
        let mut spk1 = Tensor::zeros(&[batch, hidden]);
        for _ in 0..self.num_steps {
            layer1.step(cur1.data());
            spk1.data_mut().copy_from_slice(&layer1.spikes);
            let cur2 = self.fc2.infer(&spk1);
            observe(&spk1, readout.step(cur2.data()));
        }
        readout.finish()
    }

    /// [`Net::infer`] for an input that changes from step to step:
    /// `x_steps` is `[num_steps * batch, inputs]`, the rows of step 0 first.
    pub fn infer_steps(&self, x_steps: &Tensor<F>) -> Inference<F> {
        let (rows, _) = x_steps.dims2("Net::infer_steps");
        assert!(
            rows % self.num_steps == 0,
            "Net::infer_steps: {rows} input rows do not split into {} steps",
            self.num_steps
        );
        self.infer_fused(&self.fc1.infer(x_steps), rows / self.num_steps, Current::PerStep)
    }

    /// Runs the hidden layer and `fc2` through the fused op's forward pass
    /// (one sample at a time, in the cache), then the output layer step by
    /// step.
    fn infer_fused(&self, cur1: &Tensor<F>, batch: usize, input: Current) -> Inference<F> {
        let outputs = self.fc2.outputs();
        let hidden = [cur1, &self.lif1.beta, &self.lif1.threshold, &self.fc2.weight, &self.fc2.bias];
        let cur2 = self.hidden_layer(input).forward(&hidden);
        let mut readout = Readout::new(&self.lif2, batch, outputs, self.num_steps);
        for step in cur2.data().chunks_exact(batch * outputs) {
            readout.step(step);
        }
        readout.finish()
    }
}

/// The output layer stepped in place, summing what the decoders read.
struct Readout<F> {
    layer: LeakyState<F>,
    inference: Inference<F>,
}

impl<F: Float> Readout<F> {
    fn new(lif: &Leaky<F>, batch: usize, outputs: usize, steps: usize) -> Self {
        let inference = Inference {
            spike_counts: Tensor::zeros(&[batch, outputs]),
            membrane_sum: Tensor::zeros(&[batch, outputs]),
            mem2: Vec::with_capacity(steps),
        };
        Self { layer: LeakyState::new(lif, batch, outputs), inference }
    }

    /// Advances one step with the current `[batch, outputs]` and returns
    /// the new membranes.
    fn step(&mut self, current: &[F]) -> &Tensor<F> {
        self.layer.step(current);
        let out = &mut self.inference;
        let sums = out.spike_counts.data_mut().iter_mut().zip(out.membrane_sum.data_mut());
        for ((count, sum), (&spike, &u)) in sums.zip(self.layer.spikes.iter().zip(&self.layer.membrane)) {
            *count += spike;
            *sum += u;
        }
        let shape = out.spike_counts.shape().to_vec();
        out.mem2.push(Tensor::from_vec(self.layer.membrane.clone(), &shape));
        out.mem2.last().expect("pushed above")
    }

    fn finish(self) -> Inference<F> {
        self.inference
    }
}

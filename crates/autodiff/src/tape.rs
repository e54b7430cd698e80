//! The tape: every value computed in a forward pass, in creation order.
//!
//! A node is appended only after its inputs exist, so creation order is
//! already a topological order. Backward is therefore one loop from the last
//! node to the first, with no graph search and no recursion, however deep
//! the unrolled network is.

use std::cell::RefCell;
use std::rc::Rc;

use crate::{Float, Tensor};

/// One differentiable operation: its forward rule and its backward rule.
///
/// Every op of the engine implements this trait, and so does a custom
/// function such as the Heaviside spike. The tape calls `forward` once,
/// then keeps the function (with whatever `forward` saved in it) until
/// backward needs it.
// ANCHOR: function_trait
pub trait Function<F: Float> {
    /// The op's name, used in panic messages.
    fn name(&self) -> &'static str;

    /// Computes the output from the input values.
    fn forward(&mut self, inputs: &[&Tensor<F>]) -> Tensor<F>;

    /// Computes the gradient of the loss with respect to each input, given
    /// `grad`, the gradient with respect to `output`.
    ///
    /// Returns one entry per input. An entry may be `None` when
    /// `needs_grad` is false for that input; the engine never reads it then.
    fn backward(
        &self,
        inputs: &[&Tensor<F>],
        output: &Tensor<F>,
        grad: &Tensor<F>,
        needs_grad: &[bool],
    ) -> Vec<Option<Tensor<F>>>;
}
// ANCHOR_END: function_trait

struct Node<F: Float> {
    value: Rc<Tensor<F>>,
    inputs: Vec<usize>,
    /// The function that made this node; `None` for leaves, constants and
    /// any node that no gradient has to flow through.
    function: Option<Box<dyn Function<F>>>,
    requires_grad: bool,
    is_leaf: bool,
}

/// A record of one forward pass.
///
/// Start a fresh tape for each training step: register the parameters with
/// [`Tape::leaf`], the data with [`Tape::constant`], run the forward pass
/// with the ops on [`Var`], then call [`Var::backward`] on the scalar loss.
#[derive(Default)]
pub struct Tape<F: Float> {
    nodes: RefCell<Vec<Node<F>>>,
}

/// A handle to a value on a tape. Copying it is free.
#[derive(Clone, Copy)]
pub struct Var<'t, F: Float> {
    tape: &'t Tape<F>,
    id: usize,
}

impl<F: Float> Tape<F> {
    pub fn new() -> Self {
        Self { nodes: RefCell::new(Vec::new()) }
    }

    /// Registers a value that gradients are computed for, such as a weight.
    pub fn leaf(&self, value: Tensor<F>) -> Var<'_, F> {
        self.push(Rc::new(value), Vec::new(), None, true, true)
    }

    /// Registers a shared value that gradients are computed for, without
    /// copying it.
    pub fn leaf_rc(&self, value: Rc<Tensor<F>>) -> Var<'_, F> {
        self.push(value, Vec::new(), None, true, true)
    }

    /// Registers a value that needs no gradient, such as the input images.
    /// Backward computes nothing for it, nor for any op whose inputs are all
    /// constants.
    pub fn constant(&self, value: Tensor<F>) -> Var<'_, F> {
        self.push(Rc::new(value), Vec::new(), None, false, true)
    }

    /// Runs `function` on `inputs` and records it.
    ///
    /// When no input requires a gradient, the function is dropped after the
    /// forward pass and the result is a constant.
    // ANCHOR: apply
    pub fn apply(&self, mut function: impl Function<F> + 'static, inputs: &[Var<'_, F>]) -> Var<'_, F> {
        let (values, requires_grad) = {
            let nodes = self.nodes.borrow();
            let values: Vec<Rc<Tensor<F>>> = inputs
                .iter()
                .map(|v| {
                    assert!(std::ptr::eq(v.tape, self), "{}: input comes from another tape", function.name());
                    Rc::clone(&nodes[v.id].value)
                })
                .collect();
            let requires_grad = inputs.iter().any(|v| nodes[v.id].requires_grad);
            (values, requires_grad)
        };
        let refs: Vec<&Tensor<F>> = values.iter().map(|v| v.as_ref()).collect();
        let output = function.forward(&refs);

        let ids = inputs.iter().map(|v| v.id).collect();
        let function: Option<Box<dyn Function<F>>> = if requires_grad { Some(Box::new(function)) } else { None };
        self.push(Rc::new(output), ids, function, requires_grad, false)
    }
    // ANCHOR_END: apply

    /// The number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(
        &self,
        value: Rc<Tensor<F>>,
        inputs: Vec<usize>,
        function: Option<Box<dyn Function<F>>>,
        requires_grad: bool,
        is_leaf: bool,
    ) -> Var<'_, F> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value, inputs, function, requires_grad, is_leaf });
        Var { tape: self, id: nodes.len() - 1 }
    }

    /// Walks the tape backwards from `root`. `grads[i]` is the gradient of
    /// the loss with respect to node `i`. Every use of a node adds its
    /// contribution there, so a value used at several places collects the
    /// sum of all of them.
    fn backward_from(&self, root: usize) -> Gradients<F> {
        let nodes = self.nodes.borrow();
        let root_shape = nodes[root].value.shape();
        assert!(
            nodes[root].value.len() == 1,
            "backward: the output must be a scalar, got shape {root_shape:?}"
        );

        let mut grads: Vec<Option<Tensor<F>>> = (0..nodes.len()).map(|_| None).collect();
        if nodes[root].requires_grad {
            grads[root] = Some(Tensor::full(root_shape, F::ONE));
        }

        // ANCHOR: backward_loop
        for id in (0..=root).rev() {
            let node = &nodes[id];
            let Some(function) = &node.function else { continue };
            // An intermediate gradient is used once, here, so it is taken
            // out of the store and its memory is freed after this step.
            let Some(grad) = grads[id].take() else { continue };

            let inputs: Vec<&Tensor<F>> = node.inputs.iter().map(|&i| nodes[i].value.as_ref()).collect();
            let needs_grad: Vec<bool> = node.inputs.iter().map(|&i| nodes[i].requires_grad).collect();
            let input_grads = function.backward(&inputs, &node.value, &grad, &needs_grad);
            assert_eq!(
                input_grads.len(),
                node.inputs.len(),
                "{}: backward returned {} gradients for {} inputs",
                function.name(),
                input_grads.len(),
                node.inputs.len()
            );

            for ((&input, input_grad), needed) in node.inputs.iter().zip(input_grads).zip(needs_grad) {
                if !needed {
                    continue;
                }
                let input_grad = input_grad
                    .unwrap_or_else(|| panic!("{}: backward returned no gradient for a needed input", function.name()));
                assert_eq!(
                    input_grad.shape(),
                    nodes[input].value.shape(),
                    "{}: gradient shape {:?} differs from input shape {:?}",
                    function.name(),
                    input_grad.shape(),
                    nodes[input].value.shape()
                );
                match &mut grads[input] {
                    Some(sum) => sum.add_assign(&input_grad),
                    slot @ None => *slot = Some(input_grad),
                }
            }
        }
        // ANCHOR_END: backward_loop

        // Only leaves keep their gradient: that is what the caller asked for.
        for (id, grad) in grads.iter_mut().enumerate() {
            if !(nodes[id].is_leaf && nodes[id].requires_grad) {
                *grad = None;
            }
        }
        Gradients { grads }
    }
}

impl<'t, F: Float> Var<'t, F> {
    /// The value, shared with the tape.
    pub fn value(&self) -> Rc<Tensor<F>> {
        Rc::clone(&self.tape.nodes.borrow()[self.id].value)
    }

    pub fn shape(&self) -> Vec<usize> {
        self.tape.nodes.borrow()[self.id].value.shape().to_vec()
    }

    /// The value of a scalar node.
    pub fn item(&self) -> F {
        self.tape.nodes.borrow()[self.id].value.item()
    }

    pub fn requires_grad(&self) -> bool {
        self.tape.nodes.borrow()[self.id].requires_grad
    }

    /// The position of this node on its tape.
    pub fn id(&self) -> usize {
        self.id
    }

    pub fn tape(&self) -> &'t Tape<F> {
        self.tape
    }

    /// Runs `function` with this value as its only input.
    pub fn apply(self, function: impl Function<F> + 'static) -> Self {
        self.tape.apply(function, &[self])
    }

    /// The same value cut off from the graph: no gradient flows back
    /// through the result.
    pub fn detach(self) -> Self {
        let value = self.value();
        self.tape.push(value, Vec::new(), None, false, true)
    }

    /// Computes the gradient of this scalar with respect to every leaf that
    /// requires one.
    ///
    /// # Panics
    /// When this value is not a scalar.
    pub fn backward(&self) -> Gradients<F> {
        self.tape.backward_from(self.id)
    }
}

/// The gradients of one backward pass, keyed by leaf.
pub struct Gradients<F> {
    grads: Vec<Option<Tensor<F>>>,
}

impl<F: Float> Gradients<F> {
    /// The gradient of `leaf`; `None` when it needs no gradient or the loss
    /// does not depend on it.
    pub fn get(&self, leaf: Var<'_, F>) -> Option<&Tensor<F>> {
        self.grads.get(leaf.id).and_then(Option::as_ref)
    }

    /// Takes the gradient of `leaf` out of the store.
    pub fn take(&mut self, leaf: Var<'_, F>) -> Option<Tensor<F>> {
        self.grads.get_mut(leaf.id).and_then(Option::take)
    }

    /// The gradient of `leaf`, or zeros of its shape when the loss does not
    /// depend on it.
    pub fn get_or_zeros(&self, leaf: Var<'_, F>) -> Tensor<F> {
        self.get(leaf).cloned().unwrap_or_else(|| Tensor::zeros(&leaf.shape()))
    }
}

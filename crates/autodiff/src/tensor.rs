//! An owned, contiguous, row-major array with a shape.

use crate::Float;

/// An owned, contiguous, row-major buffer of `F` with a shape.
///
/// There are no views and no strides: an op that needs a transposed operand
/// passes the transposition to the matrix kernel instead. A scalar has the
/// empty shape `[]` and one element.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<F> {
    data: Vec<F>,
    shape: Vec<usize>,
}

impl<F: Float> Tensor<F> {
    /// Wraps `data` with `shape`.
    ///
    /// # Panics
    /// When the product of `shape` differs from `data.len()`.
    pub fn from_vec(data: Vec<F>, shape: &[usize]) -> Self {
        let expected: usize = shape.iter().product();
        assert_eq!(
            data.len(),
            expected,
            "Tensor::from_vec: shape {shape:?} needs {expected} elements, got {}",
            data.len()
        );
        Self { data, shape: shape.to_vec() }
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: F) -> Self {
        Self::from_vec(vec![value; shape.iter().product()], shape)
    }

    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, F::ZERO)
    }

    /// A tensor of shape `[]` holding `value`.
    pub fn scalar(value: F) -> Self {
        Self::from_vec(vec![value], &[])
    }

    /// Converts `f64` values, as read from a file, to `F`.
    pub fn from_f64(data: &[f64], shape: &[usize]) -> Self {
        Self::from_vec(data.iter().map(|&v| F::from_f64(v)).collect(), shape)
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &[F] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [F] {
        &mut self.data
    }

    pub fn into_vec(self) -> Vec<F> {
        self.data
    }

    /// The single value of a tensor with one element.
    ///
    /// # Panics
    /// When the tensor has more or fewer than one element.
    pub fn item(&self) -> F {
        assert_eq!(self.data.len(), 1, "Tensor::item: shape {:?} is not a scalar", self.shape);
        self.data[0]
    }

    /// Rows and columns of a 2-D tensor.
    ///
    /// # Panics
    /// When the tensor is not 2-D; `op` names the caller in the message.
    pub fn dims2(&self, op: &str) -> (usize, usize) {
        match self.shape[..] {
            [rows, cols] => (rows, cols),
            _ => panic!("{op}: expected a 2-D tensor, got shape {:?}", self.shape),
        }
    }

    /// Returns the same data under another shape with the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Self {
        let expected: usize = shape.iter().product();
        assert_eq!(
            self.data.len(),
            expected,
            "Tensor::reshape: cannot view shape {:?} as {shape:?}",
            self.shape
        );
        self.shape = shape.to_vec();
        self
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(F) -> F) -> Self {
        Self { data: self.data.iter().map(|&v| f(v)).collect(), shape: self.shape.clone() }
    }

    /// Combines two tensors of the same shape element by element.
    ///
    /// # Panics
    /// When the shapes differ; `op` names the caller in the message.
    pub fn zip_map(&self, other: &Self, op: &str, f: impl Fn(F, F) -> F) -> Self {
        assert_same_shape(op, self, other);
        let data = self.data.iter().zip(&other.data).map(|(&a, &b)| f(a, b)).collect();
        Self { data, shape: self.shape.clone() }
    }

    /// Adds `other` into `self` element by element.
    pub fn add_assign(&mut self, other: &Self) {
        assert_same_shape("add_assign", self, other);
        for (a, &b) in self.data.iter_mut().zip(&other.data) {
            *a += b;
        }
    }

    pub fn sum(&self) -> F {
        self.data.iter().copied().sum()
    }

    /// Converts every element to `f64`, for reports and comparisons.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.data.iter().map(|v| v.to_f64()).collect()
    }
}

/// Panics with the op name and both shapes when `a` and `b` differ in shape.
pub(crate) fn assert_same_shape<F>(op: &str, a: &Tensor<F>, b: &Tensor<F>) {
    assert!(a.shape == b.shape, "{op}: shape mismatch, {:?} vs {:?}", a.shape, b.shape);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_keeps_row_major_order() {
        let t = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        assert_eq!(t.dims2("test"), (2, 3));
        assert_eq!(t.data()[3], 4.0);
    }

    #[test]
    #[should_panic(expected = "shape [2, 2] needs 4 elements, got 3")]
    fn from_vec_rejects_wrong_length() {
        Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[2, 2]);
    }

    #[test]
    #[should_panic(expected = "add_assign: shape mismatch, [2] vs [3]")]
    fn add_assign_names_both_shapes() {
        let mut a = Tensor::<f32>::zeros(&[2]);
        a.add_assign(&Tensor::zeros(&[3]));
    }
}

/// A parameter broadcast along the last axis of a `[.., columns]` tensor:
/// either one value for every column (shape `[]` or `[1]`) or one per
/// column (shape `[columns]`).
#[derive(Clone, Copy)]
pub struct PerColumn<'a, F> {
    values: &'a [F],
}

impl<'a, F: Float> PerColumn<'a, F> {
    /// # Panics
    /// When `param` has neither one value nor `columns` values; `op` names
    /// the caller in the message.
    pub fn new(op: &str, param: &'a Tensor<F>, columns: usize) -> Self {
        assert!(
            param.len() == 1 || param.shape() == [columns],
            "{op}: parameter shape {:?} fits neither one value nor [{columns}]",
            param.shape()
        );
        Self { values: param.data() }
    }

    /// The value for column `j`.
    #[inline]
    pub fn at(&self, j: usize) -> F {
        if self.values.len() == 1 { self.values[0] } else { self.values[j] }
    }

    /// Sums `per_element(i, j)` over rows into the parameter's shape: the
    /// gradient of a parameter that was broadcast over `rows x columns`.
    pub fn reduce(param: &Tensor<F>, rows: usize, columns: usize, per_element: impl Fn(usize, usize) -> F) -> Tensor<F> {
        let mut grad = Tensor::zeros(param.shape());
        let scalar = param.len() == 1;
        let out = grad.data_mut();
        for i in 0..rows {
            for j in 0..columns {
                out[if scalar { 0 } else { j }] += per_element(i, j);
            }
        }
        grad
    }
}

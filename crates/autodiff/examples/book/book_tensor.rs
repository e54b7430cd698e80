//! Tensors and the matrix product, as the book's chapter "Tensors and
//! matrix products" shows them. Run with
//! `cargo run -p autodiff --example book_tensor`.

use autodiff::ops::Transpose;
use autodiff::ops::matmul::product;
use autodiff::{Tape, Tensor};

// ANCHOR: tensor
/// Builds six numbers with the shape [2, 3]: two rows of three, stored row
/// by row.
fn row_major_tensor() -> Tensor<f32> {
    let a =
        Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    println!(
        "a: shape {:?}, {} elements, data {:?}",
        a.shape(),
        a.len(),
        a.data()
    );

    // Element (row i, column j) sits at index i * columns + j.
    let (rows, columns) = a.dims2("example");
    println!(
        "a[1][2] = data[1 * {columns} + 2] = {}",
        a.data()[columns + 2]
    );
    println!("a has {rows} rows");
    a
}
// ANCHOR_END: tensor

// ANCHOR: matmul
/// Multiplies `a` by the transpose of a weight in PyTorch's layout
/// [out, in]: 2 outputs, 3 inputs.
fn times_weight_transposed(a: &Tensor<f32>) -> Tensor<f32> {
    let w =
        Tensor::<f32>::from_vec(vec![1.0, 0.0, -1.0, 0.5, 0.5, 0.5], &[2, 3]);

    // x W^T: the transposed operand is read through swapped strides,
    // not copied.
    let y = product("example", a, Transpose::No, &w, Transpose::Yes);
    println!("a W^T: shape {:?}, data {:?}", y.shape(), y.data());
    y
}
// ANCHOR_END: matmul

// ANCHOR: on_tape
/// Computes the same product on a tape, in f64: the engine is generic over
/// the float type.
fn linear_on_tape() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::from_vec(
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &[2, 3],
    ));
    let weight = tape.leaf(Tensor::from_vec(
        vec![1.0, 0.0, -1.0, 0.5, 0.5, 0.5],
        &[2, 3],
    ));
    let bias = tape.leaf(Tensor::from_vec(vec![0.0, 1.0], &[2]));
    let out = x.linear(weight, bias);
    println!(
        "x W^T + b: shape {:?}, data {:?}",
        out.shape(),
        out.value().data()
    );
}
// ANCHOR_END: on_tape

// ANCHOR: shape_error
/// Prints the panic of a shape mistake inside an op. Such a mistake is a
/// programming error, and the message names the op and both shapes.
fn print_shape_panic() {
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::zeros(&[2, 3]));
        let b = tape.leaf(Tensor::zeros(&[2, 3]));
        a.matmul(b).shape()
    });
    let _ = std::panic::take_hook();
    let payload = result.expect_err("a [2, 3] x [2, 3] product must panic");
    let message = payload
        .downcast_ref::<String>()
        .map_or("(no message)", String::as_str);
    println!("panic: {message}");
}
// ANCHOR_END: shape_error

fn main() {
    let a = row_major_tensor();
    let y = times_weight_transposed(&a);
    linear_on_tape();
    print_shape_panic();
    assert_eq!(y.data(), &[-2.0, 3.0, -2.0, 7.5]);
}

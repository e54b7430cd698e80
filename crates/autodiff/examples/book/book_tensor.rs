//! Tensors and the matrix product, as the book's chapter "Tensors and
//! matrix products" shows them. Run with
//! `cargo run -p autodiff --example book_tensor`.

use autodiff::ops::Transpose;
use autodiff::ops::matmul::product;
use autodiff::{Tape, Tensor};

fn main() {
    // ANCHOR: tensor
    // Six numbers and the shape [2, 3]: two rows of three, stored row by row.
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
    // ANCHOR_END: tensor

    // ANCHOR: matmul
    // A weight in PyTorch's layout [out, in]: 2 outputs, 3 inputs.
    let w =
        Tensor::<f32>::from_vec(vec![1.0, 0.0, -1.0, 0.5, 0.5, 0.5], &[2, 3]);

    // x W^T: the transposed operand is read through swapped strides,
    // not copied.
    let y = product("example", &a, Transpose::No, &w, Transpose::Yes);
    println!("a W^T: shape {:?}, data {:?}", y.shape(), y.data());
    // ANCHOR_END: matmul

    // ANCHOR: on_tape
    // The same product on a tape, in f64: the engine is generic over the
    // float type.
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
    // ANCHOR_END: on_tape

    // ANCHOR: shape_error
    // A shape mistake inside an op is a programming error: it panics, and the
    // message names the op and both shapes.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let tape = Tape::<f32>::new();
        let a = tape.leaf(Tensor::zeros(&[2, 3]));
        let b = tape.leaf(Tensor::zeros(&[2, 3]));
        a.matmul(b).shape()
    });
    let _ = std::panic::take_hook();
    let payload = result.err().expect("a [2, 3] x [2, 3] product must panic");
    let message = payload
        .downcast_ref::<String>()
        .map_or("(no message)", String::as_str);
    println!("panic: {message}");
    // ANCHOR_END: shape_error
    assert_eq!(y.data(), &[-2.0, 3.0, -2.0, 7.5]);
}

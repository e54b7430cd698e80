//! The surrogate gradients of `SpikeGrad` beside the step they stand in for.
//! Prints a table of dS/dU and, given a path, writes the book's figure:
//! `cargo run -p snn --example book_surrogates -- book/src/figures/surrogates.svg`.

mod svg;

use autodiff::Surrogate;
use snn::SpikeGrad;
use svg::{Panel, Series, sample};

// ANCHOR: table
/// Prints dS/dU of every `SpikeGrad` variant, with snnTorch's defaults, at
/// a few points x = U - threshold.
fn print_table() {
    let shapes = [
        ("atan", SpikeGrad::atan()),
        ("fast_sigmoid", SpikeGrad::fast_sigmoid()),
        ("sigmoid", SpikeGrad::sigmoid()),
        ("triangular", SpikeGrad::triangular()),
        ("straight_through", SpikeGrad::StraightThrough),
    ];
    let xs = [-1.0, -0.5, -0.1, -0.02, 0.0, 0.02, 0.1, 0.5, 1.0];

    print!("{:>16}", "U - threshold");
    for x in xs {
        print!("{x:>8}");
    }
    println!();
    for (name, shape) in shapes {
        print!("{name:>16}");
        for x in xs {
            let grad: f64 = shape.grad(x);
            print!("{grad:>8.4}");
        }
        println!();
    }
}
// ANCHOR_END: table

fn main() {
    print_table();

    let at_zero = |shape: SpikeGrad| -> f64 { shape.grad(0.0) };
    assert_eq!(
        at_zero(SpikeGrad::atan()),
        1.0,
        "snnTorch's ATan has no 1/pi factor: it peaks at alpha / 2 = 1"
    );
    assert_eq!(
        at_zero(SpikeGrad::triangular()),
        -1.0,
        "snnTorch's triangular is -threshold from x = 0 up"
    );

    let figure = svg::render(&figure_panels(), 2, (420.0, 300.0));
    svg::check_document(&figure);
    match std::env::args().nth(1) {
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

/// Builds the figure's panels: the step with its ATan stand-in, then the
/// five surrogates' dS/dU, each on its own scale.
fn figure_panels() -> Vec<Panel> {
    let x_range = (-1.0, 1.0);
    let x_ticks = vec![-1.0, -0.5, 0.0, 0.5, 1.0];
    let curve =
        |shape: SpikeGrad| sample(-1.0, 1.0, 801, move |x| shape.grad(x));
    let derivative_panel =
        |title: &str,
         shape: SpikeGrad,
         label: &str,
         color,
         y_range: (f64, f64),
         y_ticks: Vec<f64>| Panel {
            title: title.to_string(),
            x_label: "U - threshold".to_string(),
            y_label: "dS/dU in the backward pass".to_string(),
            x_range,
            y_range,
            x_ticks: x_ticks.clone(),
            y_ticks,
            series: vec![Series {
                label: label.to_string(),
                points: curve(shape),
                color,
                dashed: false,
            }],
        };

    let step = vec![(-1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0)];
    // ATan with alpha = 2 is the derivative of atan(pi x) / pi + 1/2.
    let smooth = sample(-1.0, 1.0, 401, |x| {
        (std::f64::consts::PI * x).atan() / std::f64::consts::PI + 0.5
    });
    vec![
        Panel {
            title: "Forward: the spike S = H(U - threshold)".to_string(),
            x_label: "U - threshold".to_string(),
            y_label: "S".to_string(),
            x_range,
            y_range: (-0.1, 1.35),
            x_ticks: x_ticks.clone(),
            y_ticks: vec![0.0, 0.5, 1.0],
            series: vec![
                Series {
                    label: "step H".to_string(),
                    points: step,
                    color: "black",
                    dashed: false,
                },
                Series {
                    label: "atan(pi x)/pi + 1/2".to_string(),
                    points: smooth,
                    color: "#1f77b4",
                    dashed: true,
                },
            ],
        },
        derivative_panel(
            "Backward: ATan, alpha = 2",
            SpikeGrad::atan(),
            "1 / (1 + (pi x)^2)",
            "#1f77b4",
            (0.0, 1.1),
            vec![0.0, 0.5, 1.0],
        ),
        derivative_panel(
            "Backward: fast sigmoid, slope = 25",
            SpikeGrad::fast_sigmoid(),
            "1 / (25 |x| + 1)^2",
            "#2ca02c",
            (0.0, 1.1),
            vec![0.0, 0.5, 1.0],
        ),
        derivative_panel(
            "Backward: sigmoid, slope = 25",
            SpikeGrad::sigmoid(),
            "peak 25 / 4 = 6.25",
            "#d62728",
            (0.0, 7.0),
            vec![0.0, 2.0, 4.0, 6.0],
        ),
        derivative_panel(
            "Backward: triangular, threshold = 1",
            SpikeGrad::triangular(),
            "1 below 0, -1 from 0 up",
            "#9467bd",
            (-1.3, 1.3),
            vec![-1.0, -0.5, 0.0, 0.5, 1.0],
        ),
        derivative_panel(
            "Backward: straight-through",
            SpikeGrad::StraightThrough,
            "1 everywhere",
            "#8c564b",
            (0.0, 1.5),
            vec![0.0, 0.5, 1.0],
        ),
    ]
}

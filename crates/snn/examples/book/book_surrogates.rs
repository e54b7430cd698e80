//! The surrogate gradients of `SpikeGrad` beside the step they stand in for.
//! Prints a table of dS/dU and, given a path, writes the book's figure:
//! `cargo run -p snn --example book_surrogates -- book/src/figures/surrogates.svg`.

mod svg;

use autodiff::Surrogate;
use snn::SpikeGrad;
use svg::{Panel, Series, sample};

fn main() {
    // ANCHOR: table
    // Each surrogate is a function of x = U - threshold.
    let shapes = [
        ("atan", SpikeGrad::atan()),
        ("fast_sigmoid", SpikeGrad::fast_sigmoid()),
        ("sigmoid", SpikeGrad::sigmoid()),
    ];
    let xs = [-1.0, -0.5, -0.1, -0.02, 0.0, 0.02, 0.1, 0.5, 1.0];

    print!("{:>12}", "U - thr");
    for x in xs {
        print!("{x:>7}");
    }
    println!();
    for (name, shape) in shapes {
        print!("{name:>12}");
        for x in xs {
            let grad: f64 = shape.grad(x);
            print!("{grad:>7.4}");
        }
        println!();
    }
    // ANCHOR_END: table

    let atan_peak: f64 = SpikeGrad::atan().grad(0.0);
    assert_eq!(
        atan_peak, 1.0,
        "snnTorch's ATan has no 1/pi factor: it peaks at alpha / 2 = 1"
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
/// three surrogates' dS/dU.
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
         y_max: f64,
         y_ticks: Vec<f64>| Panel {
            title: title.to_string(),
            x_label: "U - threshold".to_string(),
            y_label: "dS/dU in the backward pass".to_string(),
            x_range,
            y_range: (0.0, y_max),
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
            1.1,
            vec![0.0, 0.5, 1.0],
        ),
        derivative_panel(
            "Backward: fast sigmoid, slope = 25",
            SpikeGrad::fast_sigmoid(),
            "1 / (25 |x| + 1)^2",
            "#2ca02c",
            1.1,
            vec![0.0, 0.5, 1.0],
        ),
        derivative_panel(
            "Backward: sigmoid, slope = 25",
            SpikeGrad::sigmoid(),
            "peak 25 / 4 = 6.25",
            "#d62728",
            7.0,
            vec![0.0, 2.0, 4.0, 6.0],
        ),
    ]
}

//! A small SVG line plot for the book's figures: panels in a grid, each
//! with labelled axes, ticks and a legend. Plain string building, so the
//! figures need no plotting crate.

use std::fmt::Write;

/// One line of a panel.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: &'static str,
    pub dashed: bool,
}

/// One plot with its own axes.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub x_ticks: Vec<f64>,
    pub y_ticks: Vec<f64>,
    pub series: Vec<Series>,
}

const LEFT: f64 = 62.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

/// Renders `panels` in a grid of `columns` columns as one SVG document,
/// each panel `panel_size` (width, height) pixels.
pub fn render(
    panels: &[Panel],
    columns: usize,
    panel_size: (f64, f64),
) -> String {
    let rows = panels.len().div_ceil(columns);
    let (panel_width, panel_height) = panel_size;
    let width = panel_width * columns as f64;
    let height = panel_height * rows as f64;
    let mut svg = String::new();
    writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    )
    .unwrap();
    writeln!(
        svg,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    )
    .unwrap();
    for (i, panel) in panels.iter().enumerate() {
        let x0 = panel_width * (i % columns) as f64;
        let y0 = panel_height * (i / columns) as f64;
        draw_panel(&mut svg, panel, (x0, y0), panel_size);
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(
    svg: &mut String,
    panel: &Panel,
    (x0, y0): (f64, f64),
    (panel_width, panel_height): (f64, f64),
) {
    let plot_left = x0 + LEFT;
    let plot_top = y0 + TOP;
    let plot_width = panel_width - LEFT - RIGHT;
    let plot_height = panel_height - TOP - BOTTOM;
    let (x_min, x_max) = panel.x_range;
    let (y_min, y_max) = panel.y_range;
    let to_x = |x: f64| plot_left + (x - x_min) / (x_max - x_min) * plot_width;
    let to_y =
        |y: f64| plot_top + (1.0 - (y - y_min) / (y_max - y_min)) * plot_height;

    // Title, frame and axis labels.
    let center = plot_left + plot_width / 2.0;
    writeln!(svg, r#"<text x="{center:.1}" y="{:.1}" text-anchor="middle" font-size="14">{}</text>"#, y0 + 20.0, escape(&panel.title)).unwrap();
    writeln!(
        svg,
        r##"<rect x="{plot_left:.1}" y="{plot_top:.1}" width="{plot_width:.1}" height="{plot_height:.1}" fill="none" stroke="#444"/>"##
    )
    .unwrap();
    writeln!(
        svg,
        r#"<text x="{center:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        y0 + panel_height - 10.0,
        escape(&panel.x_label)
    )
    .unwrap();
    let label_x = x0 + 16.0;
    let label_y = plot_top + plot_height / 2.0;
    writeln!(
        svg,
        r#"<text x="{label_x:.1}" y="{label_y:.1}" text-anchor="middle" transform="rotate(-90 {label_x:.1} {label_y:.1})">{}</text>"#,
        escape(&panel.y_label)
    )
    .unwrap();

    // Ticks with their values, and a light grid.
    for &x in &panel.x_ticks {
        let px = to_x(x);
        let bottom = plot_top + plot_height;
        writeln!(svg, r##"<line x1="{px:.1}" y1="{plot_top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="#ddd"/>"##).unwrap();
        writeln!(
            svg,
            r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            tick_label(x)
        )
        .unwrap();
    }
    for &y in &panel.y_ticks {
        let py = to_y(y);
        let right = plot_left + plot_width;
        writeln!(svg, r##"<line x1="{plot_left:.1}" y1="{py:.1}" x2="{right:.1}" y2="{py:.1}" stroke="#ddd"/>"##).unwrap();
        writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            plot_left - 6.0,
            py + 4.0,
            tick_label(y)
        )
        .unwrap();
    }

    // The lines, clipped to the axes by clamping.
    for series in &panel.series {
        let points: Vec<String> = series
            .points
            .iter()
            .map(|&(x, y)| {
                format!("{:.2},{:.2}", to_x(x), to_y(y.clamp(y_min, y_max)))
            })
            .collect();
        let dash = if series.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            points.join(" "),
            series.color
        )
        .unwrap();
    }

    // Legend in the top right corner of the plot. Its width is estimated
    // from the longest label, at about 7 pixels per character of the 12 px
    // sans-serif text, so that a long label stays inside the frame.
    let longest = panel
        .series
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    let legend_width = 28.0 + 7.0 * longest as f64 + 8.0;
    for (i, series) in panel.series.iter().enumerate() {
        let ly = plot_top + 16.0 + 16.0 * i as f64;
        let lx = plot_left + plot_width - legend_width;
        let dash = if series.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        writeln!(
            svg,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{dash}/>"#,
            ly - 4.0,
            lx + 22.0,
            ly - 4.0,
            series.color
        )
        .unwrap();
        writeln!(
            svg,
            r#"<text x="{:.1}" y="{ly:.1}">{}</text>"#,
            lx + 28.0,
            escape(&series.label)
        )
        .unwrap();
    }
}

/// Formats a tick value without trailing zeros: 1, 0.5, -0.25, 1000.
fn tick_label(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Samples `f` at `count` evenly spaced points of `[from, to]`.
pub fn sample(
    from: f64,
    to: f64,
    count: usize,
    f: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    (0..count)
        .map(|i| {
            let x = from + (to - from) * i as f64 / (count - 1) as f64;
            (x, f(x))
        })
        .collect()
}

/// Checks that `svg` is one complete document, for the runs under `cargo test`.
pub fn check_document(svg: &str) {
    assert!(
        svg.starts_with("<svg "),
        "the figure must start with an <svg> element"
    );
    assert!(
        svg.trim_end().ends_with("</svg>"),
        "the figure must end with </svg>"
    );
    assert!(!svg.contains("NaN"), "the figure contains a NaN coordinate");
    assert!(
        !svg.contains("inf,"),
        "the figure contains an infinite coordinate"
    );
}

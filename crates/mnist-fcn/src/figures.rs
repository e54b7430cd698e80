//! The figures of a run: the loss curves, the hidden layer's spike raster
//! and the output membranes for one test digit, and the surrogate gradients.
//!
//! Each figure is written twice with the same stem: as SVG (text left to the
//! viewer's fonts) and as a PNG, whose text is drawn from DejaVu Sans
//! embedded in the program, so no system font library is needed. Both go
//! through [`write_atomic`], so an interrupted run never leaves half a file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use autodiff::Surrogate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use snn::{Net, SpikeGrad};

use crate::batch::gather;
use crate::data::Split;
use crate::output::{OutputError, write_atomic};

/// Width of every figure in pixels: legible at its natural size on a page.
const WIDTH: u32 = 720;

/// The font family of every text style. [`register_fonts`] maps it to
/// DejaVu Sans for the PNG renderer.
const FONT: &str = "sans-serif";

const CAPTION_SIZE: u32 = 20;
const AXIS_LABEL_SIZE: u32 = 16;
const TICK_LABEL_SIZE: u32 = 13;

/// matplotlib's "tab10" colours, so the curves look as they do in the
/// snnTorch tutorial.
const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const GRID: RGBColor = RGBColor(225, 225, 225);

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can draw itself on any plotters backend.
trait Figure {
    /// Size in pixels, `(width, height)`.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Registers DejaVu Sans as [`FONT`], once per process. plotters' `ab_glyph`
/// renderer finds fonts only in its own registry, and it measures text for
/// the layout of SVG figures too, so this runs before any drawing.
fn register_fonts() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let fonts = [(FontStyle::Normal, dejavu::sans::regular()), (FontStyle::Bold, dejavu::sans::bold())];
            for (style, bytes) in fonts {
                register_font(FONT, style, bytes).map_err(|_| "the embedded DejaVu Sans font is invalid".to_string())?;
            }
            Ok(())
        })
        .clone()
}

fn figure_error(path: &Path, message: impl std::fmt::Display) -> OutputError {
    OutputError { path: path.to_path_buf(), message: format!("drawing the figure failed: {message}") }
}

/// Draws `figure` into `dir/<stem>.svg` and `dir/<stem>.png`, creating `dir`
/// if needed, and returns both paths.
fn render(figure: &impl Figure, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, OutputError> {
    let svg_path = dir.join(format!("{stem}.svg"));
    let png_path = dir.join(format!("{stem}.png"));
    register_fonts().map_err(|e| figure_error(&svg_path, e))?;
    let (width, height) = figure.size();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        figure.draw(&root).map_err(|e| figure_error(&svg_path, e))?;
        root.present().map_err(|e| figure_error(&svg_path, e))?;
    }
    write_atomic(&svg_path, svg.as_bytes())?;

    let mut rgb = vec![0_u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        figure.draw(&root).map_err(|e| figure_error(&png_path, e))?;
        root.present().map_err(|e| figure_error(&png_path, e))?;
    }
    let png = encode_png(&rgb, width, height).map_err(|e| figure_error(&png_path, e))?;
    write_atomic(&png_path, &png)?;

    Ok(vec![svg_path, png_path])
}

/// Encodes an 8-bit RGB buffer as PNG.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// Returns the range `[low, high]` of the finite values, widened by `pad`
/// of its span on each side, or `fallback` when no value is finite.
fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64, fallback: (f64, f64)) -> (f64, f64) {
    let (low, high) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(v), high.max(v)));
    if low > high {
        return fallback;
    }
    let span = if high > low { high - low } else { low.abs().max(1.0) };
    (low - pad * span, high + pad * span)
}

// The style goes in the tuple: `FontDesc::style` would change the style's
// name but keep the regular face it already loaded.
fn caption_style() -> TextStyle<'static> {
    (FONT, CAPTION_SIZE, FontStyle::Bold).into()
}

fn label_style() -> TextStyle<'static> {
    (FONT, AXIS_LABEL_SIZE).into()
}

fn tick_style() -> TextStyle<'static> {
    (FONT, TICK_LABEL_SIZE).into()
}

/// Formats a tick of an axis that counts (iterations, time steps, neuron
/// indices): a whole number as one, any other tick as no text, so a short
/// axis with ticks at 0.2, 0.4, ... labels only its whole numbers.
fn whole_number(value: &f64) -> String {
    if (value - value.round()).abs() > 1e-9 {
        String::new()
    } else if value.round() == 0.0 {
        "0".to_string()
    } else {
        format!("{value:.0}")
    }
}

/// Formats an axis tick with no trailing zeros ("60", "0.5", "-1"),
/// rounded to six decimals so that a tick such as 0.1 + 0.2 prints as 0.3.
fn tick_number(value: &f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    // Avoids "-0".
    if rounded == 0.0 { "0".to_string() } else { rounded.to_string() }
}

// ---------------------------------------------------------------------------
// Loss curves

struct LossCurves<'a> {
    train_loss: &'a [f32],
    test_loss: &'a [f32],
}

impl Figure for LossCurves<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 450)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let iterations = self.train_loss.len().max(self.test_loss.len());
        let x_max = iterations.saturating_sub(1).max(1) as f64;
        let losses = self.train_loss.iter().chain(self.test_loss).map(|&v| f64::from(v));
        let (_, y_max) = padded_range(losses, 0.05, (0.0, 1.0));

        let mut chart = ChartBuilder::on(root)
            .caption("Loss curves", caption_style())
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max.max(f64::MIN_POSITIVE))?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .x_desc("iteration (training batch)")
            .y_desc("loss (cross-entropy summed over time steps)")
            .axis_desc_style(label_style())
            .label_style(tick_style())
            .x_label_formatter(&whole_number)
            .y_label_formatter(&tick_number)
            .draw()?;

        for (name, values, color) in [("Train loss", self.train_loss, TAB10[0]), ("Test loss", self.test_loss, TAB10[1])] {
            // A non-finite loss ends a run with an error, so every value is
            // finite here. Skipping non-finite values anyway keeps the axis
            // range usable for any caller.
            let points = values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, &v)| (i as f64, f64::from(v)));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(label_style())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        Ok(())
    }
}

/// Draws the training loss and the test-minibatch loss of every iteration,
/// as the tutorial's "Loss Curves" figure does, into
/// `dir/loss_curves.svg` and `dir/loss_curves.png`, and returns both paths.
///
/// # Errors
/// An [`OutputError`] naming the file that could not be drawn or written.
pub fn loss_curves(train_loss: &[f32], test_loss: &[f32], dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    render(&LossCurves { train_loss, test_loss }, dir, "loss_curves")
}

// ---------------------------------------------------------------------------
// One test digit through the network

/// The hidden spikes and output membranes of the network at every time
/// step for one image.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitTrace {
    /// Index of the image in its split.
    pub index: usize,
    /// The image's class label.
    pub label: usize,
    /// Pixels of the image, row-major, 0 (background) to 255. Empty when
    /// the figure should not show the image.
    pub pixels: Vec<u8>,
    /// Height of the image in pixels.
    pub rows: usize,
    /// Width of the image in pixels.
    pub cols: usize,
    /// Hidden-layer spikes, `[steps][hidden]`, each 0 or 1.
    pub hidden_spikes: Vec<Vec<f32>>,
    /// Output membrane potentials, `[steps][outputs]`, before each step's
    /// own reset.
    pub output_membrane: Vec<Vec<f32>>,
}

impl DigitTrace {
    /// Runs `net` on image `index` of `split` without a tape and records
    /// its hidden spikes and output membranes at every step.
    ///
    /// # Panics
    /// Panics if `index` is out of range for the split.
    pub fn record(net: &Net<f32>, split: &Split, index: usize) -> Self {
        let batch = gather(split, &[index]);
        let (mut hidden_spikes, mut output_membrane) = (Vec::new(), Vec::new());
        net.infer_with(&batch.images, |spk1, mem2| {
            hidden_spikes.push(spk1.data().to_vec());
            output_membrane.push(mem2.data().to_vec());
        });
        Self {
            index,
            label: batch.labels[0],
            pixels: split.images.image(index).to_vec(),
            rows: split.images.rows,
            cols: split.images.cols,
            hidden_spikes,
            output_membrane,
        }
    }

    /// Returns the number of time steps recorded.
    pub fn steps(&self) -> usize {
        self.hidden_spikes.len().max(self.output_membrane.len())
    }

    /// Returns the class whose output membrane, summed over the steps, is
    /// largest (the lowest index on a tie): the membrane decoding of the
    /// program's `test_accuracy_membrane`.
    pub fn predicted_by_membrane(&self) -> Option<usize> {
        let outputs = self.output_membrane.first()?.len();
        let sums: Vec<f32> = (0..outputs).map(|k| self.output_membrane.iter().map(|step| step[k]).sum()).collect();
        let mut best = 0;
        for (k, &sum) in sums.iter().enumerate() {
            if sum > sums[best] {
                best = k;
            }
        }
        Some(best)
    }
}

struct SpikeRaster<'a> {
    trace: &'a DigitTrace,
}

impl SpikeRaster<'_> {
    fn has_image(&self) -> bool {
        let trace = self.trace;
        !trace.pixels.is_empty() && trace.pixels.len() == trace.rows * trace.cols
    }

    /// Draws the input image, dark on white, with its label above it.
    fn draw_image<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let trace = self.trace;
        let (rows, cols) = (trace.rows as i32, trace.cols as i32);
        // A square (for a square image) centred in the column, the label
        // above it.
        let (width, height) = area.dim_in_pixel();
        let side = width.saturating_sub(20);
        let image_height = (side as usize * trace.rows / trace.cols.max(1)) as u32;
        let top = height.saturating_sub(image_height) / 2;
        area.draw_text(&format!("input, label {}", trace.label), &label_style(), (10, top as i32 - 26))?;
        let square = area.margin(top, height.saturating_sub(top + image_height), 10, 10);
        let mut chart = ChartBuilder::on(&square).build_cartesian_2d(0..cols, 0..rows)?;
        chart.configure_mesh().disable_mesh().disable_axes().draw()?;
        let pixels = trace.pixels.iter().enumerate().filter(|&(_, &p)| p > 0).map(|(i, &p)| {
            let (row, col) = ((i / trace.cols) as i32, (i % trace.cols) as i32);
            let shade = 255 - p;
            // Row 0 is the top of the image but the bottom of the chart.
            Rectangle::new([(col, rows - row), (col + 1, rows - row - 1)], RGBColor(shade, shade, shade).filled())
        });
        chart.draw_series(pixels)?;
        chart.draw_series(std::iter::once(Rectangle::new([(0, 0), (cols, rows)], BLACK.mix(0.5).stroke_width(1))))?;
        Ok(())
    }
}

impl Figure for SpikeRaster<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 520)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let trace = self.trace;
        let spikes: usize = trace.hidden_spikes.iter().map(|step| step.iter().filter(|&&s| s > 0.0).count()).sum();
        let title = format!("Hidden-layer spikes, test digit {} ({spikes} spikes)", trace.label);
        let root = root.titled(&title, caption_style())?;
        let (image_area, raster_area) = if self.has_image() {
            let (image, raster) = root.split_horizontally(150);
            (Some(image), raster)
        } else {
            (None, root)
        };
        if let Some(area) = &image_area {
            self.draw_image(area)?;
        }

        let steps = trace.steps().max(1);
        let hidden = trace.hidden_spikes.first().map_or(1, Vec::len).max(1);
        let mut chart = ChartBuilder::on(&raster_area)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..steps as f64 - 0.5, 0.0..hidden as f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .x_desc("time step")
            .y_desc("hidden neuron index")
            .axis_desc_style(label_style())
            .label_style(tick_style())
            .x_label_formatter(&whole_number)
            .y_label_formatter(&whole_number)
            .draw()?;
        let dots = trace.hidden_spikes.iter().enumerate().flat_map(|(t, step)| {
            step.iter()
                .enumerate()
                .filter(|&(_, &s)| s > 0.0)
                .map(move |(n, _)| Circle::new((t as f64, n as f64 + 0.5), 1, BLACK.filled()))
        });
        chart.draw_series(dots)?;
        Ok(())
    }
}

/// Draws the hidden layer's spike raster for one digit, a dot per spike
/// (x: time step, y: neuron index), beside the input image, into
/// `dir/spike_raster.svg` and `dir/spike_raster.png`, and returns both paths.
///
/// # Errors
/// An [`OutputError`] naming the file that could not be drawn or written.
pub fn spike_raster(trace: &DigitTrace, dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    render(&SpikeRaster { trace }, dir, "spike_raster")
}

struct MembraneTraces<'a> {
    trace: &'a DigitTrace,
    threshold: f32,
}

impl MembraneTraces<'_> {
    fn outputs(&self) -> usize {
        self.trace.output_membrane.first().map_or(0, Vec::len)
    }

    fn color(class: usize) -> RGBColor {
        TAB10[class % TAB10.len()]
    }

    fn style(&self, class: usize) -> ShapeStyle {
        if class == self.trace.label { Self::color(class).stroke_width(4) } else { Self::color(class).mix(0.55).stroke_width(2) }
    }

    /// Draws the legend in its own column, so it never hides a curve: a
    /// sample line and the class index for each output, then the threshold.
    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let row_height = 26;
        let top = 60;
        let text = |class: usize| -> TextStyle<'static> {
            if class == self.trace.label { (FONT, AXIS_LABEL_SIZE, FontStyle::Bold).into() } else { label_style() }
        };
        area.draw(&Text::new("output neuron", (8, top - 30), label_style()))?;
        for class in 0..self.outputs() {
            let y = top + row_height * class as i32;
            area.draw(&PathElement::new(vec![(8, y), (38, y)], self.style(class)))?;
            let name = if class == self.trace.label { format!("{class} (label)") } else { class.to_string() };
            area.draw(&Text::new(name, (46, y - 8), text(class)))?;
        }
        let y = top + row_height * self.outputs() as i32 + 10;
        for x in [8, 20, 32] {
            area.draw(&PathElement::new(vec![(x, y), (x + 7, y)], BLACK.stroke_width(2)))?;
        }
        let threshold = tick_number(&f64::from(self.threshold));
        area.draw(&Text::new(format!("threshold = {threshold}"), (46, y - 8), label_style()))?;
        Ok(())
    }
}

impl Figure for MembraneTraces<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 480)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let trace = self.trace;
        let title = match trace.predicted_by_membrane() {
            Some(predicted) => format!("Output membrane, test digit {} (summed membrane predicts {predicted})", trace.label),
            None => format!("Output membrane, test digit {}", trace.label),
        };
        let root = root.titled(&title, caption_style())?;
        let (plot_area, legend_area) = root.split_horizontally(WIDTH - 175);

        let steps = trace.steps().max(1);
        let values = trace.output_membrane.iter().flatten().map(|&v| f64::from(v)).chain([0.0, f64::from(self.threshold)]);
        let (y_min, y_max) = padded_range(values, 0.06, (0.0, 1.0));
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..steps as f64 - 0.5, y_min..y_max)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .x_desc("time step")
            .y_desc("membrane potential U (arbitrary units)")
            .axis_desc_style(label_style())
            .label_style(tick_style())
            .x_label_formatter(&whole_number)
            .y_label_formatter(&tick_number)
            .draw()?;

        let threshold = f64::from(self.threshold);
        chart.draw_series(DashedLineSeries::new(
            [(-0.5, threshold), (steps as f64 - 0.5, threshold)],
            8,
            6,
            BLACK.stroke_width(2),
        ))?;
        // The labelled class last, so it is drawn on top of the others.
        let order = (0..self.outputs()).filter(|&k| k != trace.label).chain((trace.label < self.outputs()).then_some(trace.label));
        for class in order {
            let points = trace.output_membrane.iter().enumerate().map(|(t, step)| (t as f64, f64::from(step[class])));
            chart.draw_series(LineSeries::new(points, self.style(class)))?;
        }
        self.draw_legend(&legend_area)
    }
}

/// Draws the output neurons' membrane potentials at every step for one
/// digit, with `threshold` as a dashed line and the labelled class in a
/// bold line, into `dir/membrane_traces.svg` and `dir/membrane_traces.png`,
/// and returns both paths.
///
/// # Errors
/// An [`OutputError`] naming the file that could not be drawn or written.
pub fn membrane_traces(trace: &DigitTrace, threshold: f32, dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    render(&MembraneTraces { trace, threshold }, dir, "membrane_traces")
}

// ---------------------------------------------------------------------------
// Surrogate gradients

/// Returns every [`SpikeGrad`] variant with snnTorch's default parameters,
/// in the order of the surrogate figure's panels.
pub fn surrogate_variants() -> Vec<SpikeGrad> {
    vec![
        SpikeGrad::atan(),
        SpikeGrad::fast_sigmoid(),
        SpikeGrad::sigmoid(),
        SpikeGrad::triangular(),
        SpikeGrad::StraightThrough,
    ]
}

/// Returns a panel title for a surrogate. The match has no wildcard arm, so
/// a new [`SpikeGrad`] variant fails to compile here until it gets a title,
/// and a reminder to add it to [`surrogate_variants`].
fn surrogate_title(spike_grad: SpikeGrad) -> String {
    match spike_grad {
        SpikeGrad::ATan { alpha } => format!("ATan, alpha = {alpha}"),
        SpikeGrad::FastSigmoid { slope } => format!("fast sigmoid, slope = {slope}"),
        SpikeGrad::Sigmoid { slope } => format!("sigmoid, slope = {slope}"),
        SpikeGrad::Triangular { threshold } => format!("triangular, threshold = {threshold}"),
        SpikeGrad::StraightThrough => "straight-through estimator".to_string(),
        SpikeGrad::Custom { name, .. } => name.to_string(),
    }
}

/// Half-width of the x range, `x = U - threshold` from `-X_EXTENT` to
/// `X_EXTENT`.
const X_EXTENT: f64 = 2.0;

/// Samples per panel, about two per pixel of a panel's plotting width. An
/// odd count puts one sample exactly at `x = 0`, the peak of the fast
/// sigmoid's cusp.
const SAMPLES: usize = 601;

fn sample_x() -> impl Iterator<Item = f64> {
    (0..SAMPLES).map(|i| -X_EXTENT + 2.0 * X_EXTENT * i as f64 / (SAMPLES - 1) as f64)
}

struct Surrogates {
    variants: Vec<SpikeGrad>,
}

impl Surrogates {
    const PANEL_HEIGHT: u32 = 250;
    const COLUMNS: usize = 2;

    fn rows(&self) -> usize {
        (self.variants.len() + 1).div_ceil(Self::COLUMNS)
    }

    /// Draws one panel: `points` on `x` from `-X_EXTENT` to `X_EXTENT`.
    fn draw_panel<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        title: &str,
        y_desc: &str,
        points: Vec<(f64, f64)>,
        color: RGBColor,
    ) -> DrawResult<DB> {
        let (y_min, y_max) = padded_range(points.iter().map(|&(_, y)| y).chain([0.0]), 0.08, (0.0, 1.0));
        let mut chart = ChartBuilder::on(area)
            .caption(title, label_style())
            .margin(8)
            .margin_right(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-X_EXTENT..X_EXTENT, y_min..y_max)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .x_labels(5)
            .y_labels(5)
            .x_desc("U - threshold")
            .y_desc(y_desc)
            .axis_desc_style(label_style())
            .label_style(tick_style())
            .x_label_formatter(&tick_number)
            .y_label_formatter(&tick_number)
            .draw()?;
        // Two polylines that meet at x = 0. plotters 0.3.7 fills a wide
        // polyline as one polygon with mitred joins, and at the fast
        // sigmoid's sharp cusp that polygon folds over itself, which left
        // gaps in the PNG.
        let left = points.iter().copied().filter(|&(x, _)| x <= 0.0);
        let right = points.iter().copied().filter(|&(x, _)| x >= 0.0);
        chart.draw_series(LineSeries::new(left, color.stroke_width(2)))?;
        chart.draw_series(LineSeries::new(right, color.stroke_width(2)))?;
        Ok(())
    }
}

impl Figure for Surrogates {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 40 + Self::PANEL_HEIGHT * self.rows() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let root = root.titled("Forward step and backward surrogates", caption_style())?;
        let panels = root.split_evenly((self.rows(), Self::COLUMNS));

        // The strict `>` of the forward pass: S = 0 at x = 0 itself.
        let step = vec![(-X_EXTENT, 0.0), (0.0, 0.0), (0.0, 1.0), (X_EXTENT, 1.0)];
        Self::draw_panel(&panels[0], "forward: Heaviside step", "spike S", step, BLACK)?;
        for (i, (&spike_grad, panel)) in self.variants.iter().zip(&panels[1..]).enumerate() {
            let points = sample_x().map(|x| (x, Surrogate::<f64>::grad(&spike_grad, x))).collect();
            let title = format!("backward: {}", surrogate_title(spike_grad));
            Self::draw_panel(panel, &title, "dS/dU", points, TAB10[i % TAB10.len()])?;
        }
        Ok(())
    }
}

/// Draws the Heaviside step of the forward pass beside the surrogate
/// gradient `dS/dU` of every [`SpikeGrad`] variant, each in its own panel
/// with its own scale, on `x = U - threshold` from -2 to 2, into
/// `dir/surrogates.svg` and `dir/surrogates.png`, and returns both paths.
///
/// # Errors
/// An [`OutputError`] naming the file that could not be drawn or written.
pub fn surrogates(dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    render(&Surrogates { variants: surrogate_variants() }, dir, "surrogates")
}

// ---------------------------------------------------------------------------
// All figures of a run

/// Writes every figure of a run into `dir`: the loss curves, the spike
/// raster and output membranes of the first test image, and the
/// surrogates. Returns the paths written, SVG and PNG for each figure.
///
/// With an empty test split the two figures of the test image are left out.
///
/// # Errors
/// An [`OutputError`] naming the file that could not be drawn or written.
pub fn write_run_figures(
    dir: &Path,
    train_loss: &[f32],
    test_loss: &[f32],
    net: &Net<f32>,
    test: &Split,
) -> Result<Vec<PathBuf>, OutputError> {
    let mut paths = loss_curves(train_loss, test_loss, dir)?;
    if !test.labels.is_empty() {
        let trace = DigitTrace::record(net, test, 0);
        paths.extend(spike_raster(&trace, dir)?);
        // A per-neuron threshold has one value per output neuron, and the
        // figure shows the labelled class's.
        let thresholds = net.lif2.threshold.data();
        let threshold = thresholds.get(trace.label).or(thresholds.first()).copied().unwrap_or(1.0);
        paths.extend(membrane_traces(&trace, threshold, dir)?);
    }
    paths.extend(surrogates(dir)?);
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::Images;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use snn::NetConfig;

    const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

    /// Reads `dir/<stem>.svg` and checks that it is one complete SVG
    /// document that contains every text of `texts`.
    fn check_svg(dir: &Path, stem: &str, texts: &[&str]) -> String {
        let path = dir.join(format!("{stem}.svg"));
        let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(svg.starts_with("<svg"), "{stem}.svg starts with {:?}", &svg[..svg.len().min(40)]);
        assert!(svg.trim_end().ends_with("</svg>"), "{stem}.svg is not closed");
        assert_eq!(svg.matches("<svg").count(), 1, "{stem}.svg has one root element");
        for text in texts {
            assert!(svg.contains(text), "{stem}.svg lacks the text {text:?}");
        }
        svg
    }

    /// Reads `dir/<stem>.png` and checks its signature and its width.
    fn check_png(dir: &Path, stem: &str) {
        let path = dir.join(format!("{stem}.png"));
        let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(png.len() > 1000, "{stem}.png has only {} bytes", png.len());
        assert_eq!(png[..8], PNG_MAGIC, "{stem}.png signature");
        // The IHDR chunk follows the signature: length, "IHDR", width, height.
        assert_eq!(&png[12..16], b"IHDR");
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        assert_eq!(width, WIDTH, "{stem}.png width");
    }

    fn check_paths(paths: &[PathBuf], dir: &Path, stem: &str) {
        assert_eq!(paths, [dir.join(format!("{stem}.svg")), dir.join(format!("{stem}.png"))]);
    }

    /// Builds a split of `count` synthetic 28x28 images, each a bright
    /// square whose position depends on the label.
    fn synthetic_split(count: usize) -> Split {
        let side = crate::idx::IMAGE_SIDE;
        let mut pixels = vec![0_u8; count * side * side];
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        for (i, &label) in labels.iter().enumerate() {
            let offset = 2 + 2 * usize::from(label);
            for row in offset..offset + 6 {
                for col in offset..offset + 6 {
                    pixels[i * side * side + row * side + col] = 255;
                }
            }
        }
        Split { images: Images { count, rows: side, cols: side, pixels }, labels }
    }

    /// Builds a small untrained network whose hidden layer fires, because a
    /// bias of 1 puts each hidden neuron's input current near the threshold.
    fn small_net() -> Net<f32> {
        let config = NetConfig { num_hidden: 40, num_steps: 6, ..NetConfig::default() };
        let mut net = Net::new(&config, &mut StdRng::seed_from_u64(3));
        net.fc1.bias.data_mut().fill(1.0);
        net
    }

    #[test]
    fn loss_curves_writes_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let train: Vec<f32> = (0..60).map(|i| 57.0 * (-(i as f32) / 20.0).exp() + 5.0).collect();
        let test: Vec<f32> = train.iter().map(|l| l * 0.9).collect();
        let paths = loss_curves(&train, &test, dir.path()).unwrap();
        check_paths(&paths, dir.path(), "loss_curves");
        check_svg(
            dir.path(),
            "loss_curves",
            &["Loss curves", "iteration", "loss (cross-entropy summed over time steps)", "Train loss", "Test loss"],
        );
        check_png(dir.path(), "loss_curves");
    }

    #[test]
    fn loss_curves_without_iterations() {
        let dir = tempfile::tempdir().unwrap();
        loss_curves(&[], &[], dir.path()).unwrap();
        check_svg(dir.path(), "loss_curves", &["iteration"]);
        check_png(dir.path(), "loss_curves");
    }

    #[test]
    fn loss_curves_skips_non_finite() {
        let dir = tempfile::tempdir().unwrap();
        loss_curves(&[50.0, f32::NAN, 30.0, f32::INFINITY], &[45.0, 40.0], dir.path()).unwrap();
        check_png(dir.path(), "loss_curves");
    }

    #[test]
    fn trace_records_every_step() {
        let net = small_net();
        let split = synthetic_split(3);
        let trace = DigitTrace::record(&net, &split, 2);
        assert_eq!((trace.index, trace.label), (2, 2));
        assert_eq!(trace.steps(), 6);
        assert_eq!(trace.hidden_spikes.len(), 6);
        assert!(trace.hidden_spikes.iter().all(|step| step.len() == 40));
        assert!(trace.output_membrane.iter().all(|step| step.len() == 10));
        assert_eq!(trace.pixels, split.images.image(2));
        assert!(trace.hidden_spikes.iter().flatten().all(|&s| s == 0.0 || s == 1.0));

        // The same network on the same image through `infer` sums to the
        // recorded membranes.
        let inference = net.infer(&gather(&split, &[2]).images);
        for class in 0..10 {
            let summed: f32 = trace.output_membrane.iter().map(|step| step[class]).sum();
            let expected = inference.membrane_sum.data()[class];
            assert!((summed - expected).abs() <= 1e-5 * expected.abs().max(1.0), "class {class}: {summed} vs {expected}");
        }
    }

    #[test]
    fn prediction_takes_largest_sum() {
        let mut trace = DigitTrace::record(&small_net(), &synthetic_split(1), 0);
        trace.output_membrane = vec![vec![0.0, 2.0, 1.0], vec![0.0, -1.5, 1.0]];
        assert_eq!(trace.predicted_by_membrane(), Some(2));
        // A tie goes to the lowest index.
        trace.output_membrane = vec![vec![0.0, 1.0, 1.0]];
        assert_eq!(trace.predicted_by_membrane(), Some(1));
        trace.output_membrane.clear();
        assert_eq!(trace.predicted_by_membrane(), None);
    }

    #[test]
    fn spike_raster_draws_a_dot_per_spike() {
        let dir = tempfile::tempdir().unwrap();
        let trace = DigitTrace::record(&small_net(), &synthetic_split(1), 0);
        let spikes = trace.hidden_spikes.iter().flatten().filter(|&&s| s > 0.0).count();
        assert!(spikes > 0, "the test network should fire");

        let paths = spike_raster(&trace, dir.path()).unwrap();
        check_paths(&paths, dir.path(), "spike_raster");
        let svg = check_svg(
            dir.path(),
            "spike_raster",
            &["time step", "hidden neuron index", "test digit 0", &format!("{spikes} spikes"), "input, label 0"],
        );
        assert_eq!(svg.matches("<circle").count(), spikes);
        check_png(dir.path(), "spike_raster");
    }

    #[test]
    fn spike_raster_without_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut trace = DigitTrace::record(&small_net(), &synthetic_split(1), 0);
        trace.pixels.clear();
        spike_raster(&trace, dir.path()).unwrap();
        let svg = check_svg(dir.path(), "spike_raster", &["time step"]);
        assert!(!svg.contains("input, label"));
        check_png(dir.path(), "spike_raster");
    }

    #[test]
    fn membrane_traces_marks_label_and_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let trace = DigitTrace::record(&small_net(), &synthetic_split(4), 3);
        let paths = membrane_traces(&trace, 1.0, dir.path()).unwrap();
        check_paths(&paths, dir.path(), "membrane_traces");
        let svg = check_svg(
            dir.path(),
            "membrane_traces",
            &["time step", "membrane potential U", "test digit 3", "3 (label)", "threshold = 1"],
        );
        assert_eq!(svg.matches("(label)").count(), 1);
        check_png(dir.path(), "membrane_traces");
    }

    #[test]
    fn surrogates_has_a_panel_per_variant() {
        let dir = tempfile::tempdir().unwrap();
        let paths = surrogates(dir.path()).unwrap();
        check_paths(&paths, dir.path(), "surrogates");
        let titles: Vec<String> = surrogate_variants().into_iter().map(surrogate_title).collect();
        let mut texts = vec!["Heaviside step", "U - threshold", "dS/dU"];
        texts.extend(titles.iter().map(String::as_str));
        check_svg(dir.path(), "surrogates", &texts);
        check_png(dir.path(), "surrogates");
    }

    #[test]
    fn surrogate_titles_are_distinct() {
        let mut titles: Vec<String> = surrogate_variants().into_iter().map(surrogate_title).collect();
        let count = titles.len();
        titles.sort();
        titles.dedup();
        assert_eq!(titles.len(), count);
    }

    #[test]
    fn surrogate_samples_include_threshold() {
        let xs: Vec<f64> = sample_x().collect();
        assert_eq!(xs.len(), SAMPLES);
        assert_eq!(xs[0], -X_EXTENT);
        assert_eq!(xs[SAMPLES - 1], X_EXTENT);
        assert!(xs.contains(&0.0));
        assert!(xs.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn run_figures_writes_all() {
        let dir = tempfile::tempdir().unwrap();
        let figures = dir.path().join("figures");
        let paths = write_run_figures(&figures, &[50.0, 40.0, 30.0], &[48.0, 41.0, 33.0], &small_net(), &synthetic_split(5))
            .unwrap();
        let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        let expected = ["loss_curves", "spike_raster", "membrane_traces", "surrogates"]
            .iter()
            .flat_map(|stem| [format!("{stem}.svg"), format!("{stem}.png")])
            .collect::<Vec<_>>();
        assert_eq!(names, expected);
        for path in &paths {
            assert_eq!(path.parent(), Some(figures.as_path()));
            assert!(std::fs::metadata(path).unwrap().len() > 0, "{} is empty", path.display());
        }
        // The first test image has label 0.
        check_svg(&figures, "spike_raster", &["test digit 0"]);
    }

    #[test]
    fn run_figures_with_empty_test_split() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_run_figures(dir.path(), &[50.0], &[48.0], &small_net(), &synthetic_split(0)).unwrap();
        let stems: Vec<String> = paths.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(stems, ["loss_curves", "loss_curves", "surrogates", "surrogates"]);
    }

    #[test]
    fn unwritable_dir_names_path() {
        let dir = tempfile::tempdir().unwrap();
        // A folder cannot be created below a regular file, even by root.
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"").unwrap();
        let figures = file.join("figures");
        let err = surrogates(&figures).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&figures.display().to_string()), "{message}");
        let err = loss_curves(&[1.0], &[1.0], &figures).unwrap_err();
        assert!(err.to_string().contains("not-a-folder"), "{err}");
    }

    #[test]
    fn tick_numbers_have_no_trailing_zeros() {
        let cases = [(60.0, "60"), (0.5, "0.5"), (-1.0, "-1"), (0.1 + 0.2, "0.3"), (-0.0, "0"), (1e-9, "0"), (2.25, "2.25")];
        for (value, expected) in cases {
            assert_eq!(tick_number(&value), expected, "{value}");
        }
    }

    #[test]
    fn whole_numbers_only_on_counting_axes() {
        let cases = [(0.0, "0"), (-0.0, "0"), (5.0, "5"), (24.0, "24"), (0.2, ""), (-0.4, ""), (2.5, "")];
        for (value, expected) in cases {
            assert_eq!(whole_number(&value), expected, "{value}");
        }
    }

    #[test]
    fn padded_range_cases() {
        assert_eq!(padded_range([f64::NAN, f64::INFINITY], 0.1, (0.0, 1.0)), (0.0, 1.0));
        assert_eq!(padded_range([0.0, 10.0], 0.1, (0.0, 1.0)), (-1.0, 11.0));
        // One value: the span is its magnitude, at least 1.
        assert_eq!(padded_range([4.0], 0.5, (0.0, 1.0)), (2.0, 6.0));
        assert_eq!(padded_range([0.0], 0.5, (0.0, 1.0)), (-0.5, 0.5));
    }
}

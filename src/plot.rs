//! PNG charts of evaluation results and training logs: the confusion matrix and per-class
//! accuracy of `vpipe eval --plot`, and the loss / accuracy / learning-rate curves of a
//! `vpipe run` work dir's `log.jsonl` (`vpipe plot`), as mmaction2's
//! `tools/analysis/analyze_logs.py plot_curve` draws them.
//!
//! Drawing is plotters' bitmap backend; text uses DejaVu Sans bundled into the binary
//! (`assets/fonts`, Bitstream Vera licence) so no fontconfig or system font is needed; PNG
//! encoding is the `image` crate's. Every file is written atomically (temp file + rename).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use image::ImageEncoder as _;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::sink::atomic::write_file;

/// The one font family registered with plotters (its ab_glyph text path has no system fonts).
const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
        if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_err() {
            panic!("the bundled DejaVuSans.ttf is not a valid font");
        }
    });
}

/// A plotters error as ours, naming the file being drawn.
fn draw_err(what: &Path, e: impl Display) -> anyhow::Error {
    anyhow!("drawing {}: {e}", what.display())
}

/// Renders `draw` onto a white `width`×`height` RGB canvas and writes it as PNG to `path`.
///
/// # Errors
/// Drawing fails, or the file cannot be written (message names the path).
fn render(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| draw_err(path, e))?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, width, height, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("encoding {}", path.display()))?;
    write_file(path, &png)
}

/// Colour of a confusion-matrix cell holding `fraction` (0..=1) of its row: white to
/// matplotlib's `Blues` darkest blue, linearly in RGB.
pub fn cell_colour(fraction: f64) -> RGBColor {
    let f = fraction.clamp(0.0, 1.0);
    let mix = |lo: u8, hi: u8| (lo as f64 + (hi as f64 - lo as f64) * f).round() as u8;
    RGBColor(mix(255, 8), mix(255, 48), mix(255, 107))
}

/// Class names as written on an axis: all of them up to `max` classes (cut to 28 characters),
/// none beyond (the axis then only shows positions).
fn axis_names(names: &[String], max: usize) -> Vec<String> {
    names.iter().map(|s| if names.len() <= max { s.chars().take(28).collect() } else { String::new() }).collect()
}

/// Pixel width of the longest of `names` at 12 px DejaVu Sans (≈ 7 px per character).
fn names_width(names: &[String]) -> u32 {
    names.iter().map(|s| s.chars().count()).max().unwrap_or(0) as u32 * 7 + 16
}

/// Writes the confusion matrix as a heat map: rows are true labels (top to bottom in `names`
/// order), columns predictions (left to right); each cell coloured by its fraction of the row
/// (so classes of different sizes compare) and, where the cell is large enough, labelled with
/// its count. `matrix` is S×S over the label set S named by `names` (see
/// `metrics::confusion_matrix`). Class names are written on the axes up to 40 classes.
///
/// # Errors
/// `matrix` is not square with one row per name; drawing or writing fails.
pub fn confusion_matrix(path: &Path, names: &[String], matrix: &[Vec<u64>]) -> Result<()> {
    let n = names.len();
    if matrix.len() != n || matrix.iter().any(|r| r.len() != n) || n == 0 {
        bail!("confusion matrix must be {n}×{n}, one row and column per label name");
    }
    let shown = axis_names(names, 40);
    let cell = (720 / n as u32).clamp(6, 60);
    let label = names_width(&shown).max(30);
    let side = cell * n as u32;
    let size = ((side + label + 60).max(420), side + label + 80);
    render(path, size, |root| {
        root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
        let nf = n as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("confusion matrix", (FONT, 16))
            .margin(10)
            .margin_right(size.0.saturating_sub(side + label + 30))
            .x_label_area_size(label + 20)
            .y_label_area_size(label + 20)
            .build_cartesian_2d(0f64..nf, nf..0f64)
            .map_err(|e| draw_err(path, e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc("predicted")
            .y_desc("true label")
            .label_style((FONT, 13))
            .draw()
            .map_err(|e| draw_err(path, e))?;
        for (i, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            for (j, &count) in row.iter().enumerate() {
                let f = count as f64 / total;
                let (x, y) = (j as f64, i as f64);
                let rect = Rectangle::new([(x, y), (x + 1.0, y + 1.0)], cell_colour(f).filled());
                chart.draw_series(std::iter::once(rect)).map_err(|e| draw_err(path, e))?;
                if cell >= 24 && count > 0 {
                    let colour = if f > 0.5 { WHITE } else { BLACK };
                    let style = (FONT, 12).into_font().color(&colour).pos(Pos::new(HPos::Center, VPos::Center));
                    let text = Text::new(count.to_string(), (x + 0.5, y + 0.5), style);
                    chart.draw_series(std::iter::once(text)).map_err(|e| draw_err(path, e))?;
                }
            }
        }
        for (k, name) in shown.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, k as f64 + 0.5));
            let style = (FONT, 12).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(name.as_str(), (x - 6, y), style)).map_err(|e| draw_err(path, e))?;
            let (x, y) = chart.backend_coord(&(k as f64 + 0.5, nf));
            let style = (FONT, 12).into_font().transform(FontTransform::Rotate90).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(name.as_str(), (x, y + 6), style)).map_err(|e| draw_err(path, e))?;
        }
        Ok(())
    })
}

/// Writes per-class accuracy (a fraction in 0..=1 per name, `metrics::per_class_accuracy`) as a
/// horizontal bar chart, one bar per class in `names` order, top to bottom; names are written
/// up to 60 classes.
///
/// # Errors
/// Lengths differ or are 0; drawing or writing fails.
pub fn per_class_accuracy(path: &Path, names: &[String], accuracy: &[f64]) -> Result<()> {
    let n = names.len();
    if n == 0 || accuracy.len() != n {
        bail!("per-class accuracy needs one value per label name ({n} names, {} values)", accuracy.len());
    }
    let shown = axis_names(names, 60);
    let bar = (900 / n as u32).clamp(3, 28);
    let label = names_width(&shown).max(30);
    render(path, (720 + label, bar * n as u32 + 110), |root| {
        root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
        let nf = n as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("per-class accuracy", (FONT, 16))
            .margin(10)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(label)
            .build_cartesian_2d(0f64..1f64, nf..0f64)
            .map_err(|e| draw_err(path, e))?;
        chart.configure_mesh().y_labels(0).x_desc("accuracy").label_style((FONT, 12)).draw().map_err(|e| draw_err(path, e))?;
        let bars = accuracy.iter().enumerate().map(|(i, &a)| {
            let y = i as f64;
            Rectangle::new([(0.0, y + 0.1), (a.clamp(0.0, 1.0), y + 0.9)], cell_colour(0.75).filled())
        });
        chart.draw_series(bars).map_err(|e| draw_err(path, e))?;
        for (k, name) in shown.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, k as f64 + 0.5));
            let style = (FONT, 12).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(name.as_str(), (x - 6, y), style)).map_err(|e| draw_err(path, e))?;
        }
        Ok(())
    })
}

/// One named line of a chart: (x, y) points in x order; `markers` also draws each point (for
/// per-epoch validation values, which are few).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) in x order: x in epochs.
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at each point too.
    pub markers: bool,
}

/// Writes a line chart of `series` against epochs (x: fractional epoch), with a legend.
///
/// # Errors
/// No points at all; drawing or writing fails.
pub fn line_chart(path: &Path, title: &str, y_desc: &str, series: &[Series]) -> Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    if all().next().is_none() {
        bail!("{}: nothing to draw for {title}", path.display());
    }
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| (a.min(x), b.max(x)));
    let (y0, y1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, y)| (a.min(y), b.max(y)));
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    render(path, (900, 540), |root| {
        root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(|e| draw_err(path, e))?;
        chart.configure_mesh().x_desc("epoch").y_desc(y_desc).label_style((FONT, 12)).draw().map_err(|e| draw_err(path, e))?;
        for (k, s) in series.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            // Per-epoch values (markers) stand out over the noisier per-iteration ones.
            let width = if s.markers { 2 } else { 1 };
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), colour.stroke_width(width)))
                .map_err(|e| draw_err(path, e))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            if s.markers {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(|e| draw_err(path, e))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(path, e))?;
        Ok(())
    })
}

/// The curves of a `vpipe run` `log.jsonl`, x in fractional epochs: `loss` and `lr` from the
/// `train` records, `accuracy` (train `top1_acc` per logged iteration, then every numeric key of
/// the `val` records — top1_acc, top5_acc, mean_class_accuracy, mAP — per epoch). As mmaction2's
/// `analyze_logs.py`, an iteration's x is `epoch - 1 + iter / iters_per_epoch`, with
/// iters_per_epoch the last `iter` logged in the first epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingCurves {
    /// Training loss per logged iteration.
    pub loss: Vec<Series>,
    /// Learning rate per logged iteration.
    pub lr: Vec<Series>,
    /// Training top1_acc per logged iteration, then each validation metric per epoch.
    pub accuracy: Vec<Series>,
}

impl TrainingCurves {
    /// Parses `log.jsonl` text (one JSON object per line; blank lines ignored).
    ///
    /// # Errors
    /// A line is not JSON (the error names the line number); no `train` or `val` record at all.
    pub fn parse(text: &str) -> Result<Self> {
        let mut train: Vec<(f64, f64, serde_json::Value)> = Vec::new();
        let mut val: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let records: Vec<serde_json::Value> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {} is not a JSON record", i + 1)))
            .collect::<Result<_>>()?;
        let num = |r: &serde_json::Value, k: &str| r.get(k).and_then(serde_json::Value::as_f64);
        let first_epoch = records.iter().filter(|r| r["mode"] == "train").filter_map(|r| num(r, "epoch")).fold(f64::INFINITY, f64::min);
        let iters = records
            .iter()
            .filter(|r| r["mode"] == "train" && num(r, "epoch") == Some(first_epoch))
            .filter_map(|r| num(r, "iter"))
            .fold(0f64, f64::max)
            .max(1.0);
        for r in &records {
            let Some(epoch) = num(r, "epoch") else { continue };
            match r["mode"].as_str() {
                Some("train") => train.push((epoch - 1.0 + num(r, "iter").unwrap_or(iters) / iters, epoch, r.clone())),
                Some("val") => {
                    for (k, v) in r.as_object().into_iter().flatten() {
                        if let (true, Some(y)) = (k != "epoch", v.as_f64()) {
                            val.entry(format!("val {k}")).or_default().push((epoch, y));
                        }
                    }
                }
                _ => {}
            }
        }
        if train.is_empty() && val.is_empty() {
            bail!("no train or val records");
        }
        let series = |key: &str, name: &str| Series {
            name: name.into(),
            points: train.iter().filter_map(|(x, _, r)| num(r, key).map(|y| (*x, y))).collect(),
            markers: false,
        };
        let keep = |s: Vec<Series>| s.into_iter().filter(|s| !s.points.is_empty()).collect::<Vec<_>>();
        let mut accuracy = keep(vec![series("top1_acc", "train top1_acc")]);
        accuracy.extend(val.into_iter().map(|(name, points)| Series { name, points, markers: true }));
        Ok(TrainingCurves { loss: keep(vec![series("loss", "train loss")]), lr: keep(vec![series("lr", "lr")]), accuracy })
    }

    /// Writes `loss.png`, `accuracy.png` and `lr.png` into `dir` (those with data) and returns
    /// their paths.
    ///
    /// # Errors
    /// Drawing or writing fails.
    pub fn write(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        let mut out = Vec::new();
        for (name, title, y, series) in [
            ("loss.png", "training loss", "loss", &self.loss),
            ("accuracy.png", "accuracy", "accuracy", &self.accuracy),
            ("lr.png", "learning rate", "lr", &self.lr),
        ] {
            if !series.is_empty() {
                let path = dir.join(name);
                line_chart(&path, title, y, series)?;
                out.push(path);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_colour_darkens_with_the_fraction() {
        assert_eq!(cell_colour(0.0), RGBColor(255, 255, 255));
        assert_eq!(cell_colour(1.0), RGBColor(8, 48, 107));
        let lum = |c: RGBColor| c.0 as u32 + c.1 as u32 + c.2 as u32;
        assert!(lum(cell_colour(0.3)) > lum(cell_colour(0.6)));
    }

    #[test]
    fn training_log_becomes_epoch_curves() {
        let log = r#"{"mode":"train","epoch":1,"iter":2,"lr":0.01,"loss":2.0,"top1_acc":0.25}
{"mode":"train","epoch":1,"iter":4,"lr":0.01,"loss":1.5,"top1_acc":0.5}
{"mode":"train_epoch","epoch":1,"top1_acc":0.4}
{"mode":"val","epoch":1,"top1_acc":0.5,"top5_acc":1.0,"mean_class_accuracy":0.5}

{"mode":"train","epoch":2,"iter":2,"lr":0.001,"loss":1.0,"top1_acc":0.75}
{"mode":"test","top1_acc":0.6}
"#;
        let c = TrainingCurves::parse(log).unwrap();
        assert_eq!(c.loss[0].points, vec![(0.5, 2.0), (1.0, 1.5), (1.5, 1.0)]);
        assert_eq!(c.lr[0].points, vec![(0.5, 0.01), (1.0, 0.01), (1.5, 0.001)]);
        let names: Vec<&str> = c.accuracy.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["train top1_acc", "val mean_class_accuracy", "val top1_acc", "val top5_acc"]);
        assert_eq!(c.accuracy[2].points, vec![(1.0, 0.5)]);
    }

    #[test]
    fn bad_log_line_is_named() {
        let e = TrainingCurves::parse("{\"mode\":\"train\"}\nnot json\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
        assert!(TrainingCurves::parse("{\"mode\":\"test\",\"top1_acc\":1}\n").is_err());
    }

    /// Cells are coloured by their fraction of the row, not by count: two full-row cells of 4 and
    /// two half-row cells of 2 cover about the same area in their two colours.
    #[test]
    fn confusion_matrix_png_colours_cells_by_row_fraction() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = ["brush_hair", "cartwheel", "catch"].iter().map(|s| s.to_string()).collect();
        let p = dir.path().join("cm.png");
        confusion_matrix(&p, &names, &[vec![4, 0, 0], vec![0, 4, 0], vec![2, 0, 2]]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        let count = |c: RGBColor| img.pixels().filter(|px| px.0 == [c.0, c.1, c.2]).count();
        // Two full-row cells (fraction 1), two half cells, five empty (white, not counted).
        let cell_area = count(cell_colour(1.0));
        let half_area = count(cell_colour(0.5));
        assert!(cell_area > 1000, "dark cells drawn: {cell_area} px");
        // The dark cells carry white count text, the half cells black text: areas are close.
        let ratio = cell_area as f64 / half_area as f64;
        assert!((0.8..1.25).contains(&ratio), "dark {cell_area} px vs half {half_area} px");
        let e = confusion_matrix(&p, &names, &[vec![1, 0]]).unwrap_err();
        assert!(e.to_string().contains("3×3"), "{e}");
    }

    #[test]
    fn accuracy_bars_are_as_long_as_the_accuracy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("acc.png");
        let names: Vec<String> = vec!["a".into(), "b".into()];
        per_class_accuracy(&p, &names, &[1.0, 0.5]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        let bar = cell_colour(0.75);
        let widths: Vec<usize> = img.rows().map(|r| r.filter(|px| px.0 == [bar.0, bar.1, bar.2]).count()).filter(|&w| w > 0).collect();
        let (long, short) = (widths.iter().max().unwrap(), widths.iter().min().unwrap());
        let r = *long as f64 / *short as f64;
        assert!((1.9..2.1).contains(&r), "bar widths {long} vs {short}");
    }
}

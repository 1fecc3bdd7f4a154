//! PNG charts of a trained ranker: the ROC curve on the validation set and
//! the top features by gain.
//!
//! Text is drawn with the DejaVu Sans font shipped in `assets/` (see
//! `assets/README.md` for its license) through plotters' `ab_glyph`
//! renderer, so neither the build nor the run needs fontconfig or freetype.
//! Each chart is rendered to a temporary file beside its destination and
//! renamed into place: a failed render leaves no half-written PNG.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT_FAMILY: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

const ROC_SIZE: (u32, u32) = (900, 800);
const IMPORTANCE_WIDTH: u32 = 1100;
const IMPORTANCE_ROW_HEIGHT: u32 = 30;

/// Registers the shipped font once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
            && plotters::style::register_font(FONT_FAMILY, FontStyle::Bold, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        bail!("the chart font assets/DejaVuSans.ttf built into train is not a valid TrueType font")
    }
}

/// Renders with `draw` into a temporary PNG beside `path`, then renames it
/// to `path`. The temporary file ends in `.png` because the bitmap backend
/// picks its encoder by extension.
fn render_atomically(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    ensure_font()?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("{}: a chart path needs a file name", path.display()))?;
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}.png", std::process::id()));
    let rendered = draw(&tmp).and_then(|()| {
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    });
    if rendered.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    rendered.with_context(|| format!("writing chart {}", path.display()))
}

/// Turns a plotters error (not always `Send + Sync`) into an anyhow error.
fn drawing<T, E: std::fmt::Display>(result: std::result::Result<T, E>) -> Result<T> {
    result.map_err(|e| anyhow!("drawing failed: {e}"))
}

/// Writes the ROC curve through the points (`fpr[i]`, `tpr[i]`) (sorted by
/// false positive rate, from (0, 0) to (1, 1)) with the AUC in the title
/// and the chance diagonal for reference.
pub fn roc_curve_png(path: &Path, fpr: &[f64], tpr: &[f64], auc: f64) -> Result<()> {
    if fpr.len() != tpr.len() {
        bail!(
            "{}: ROC curve has {} false positive rates but {} true positive rates",
            path.display(),
            fpr.len(),
            tpr.len()
        );
    }
    if fpr.len() < 2 {
        bail!(
            "{}: ROC curve needs at least 2 points, got {}",
            path.display(),
            fpr.len()
        );
    }
    let in_unit = |v: &f64| v.is_finite() && (0.0..=1.0).contains(v);
    if let Some(i) = (0..fpr.len()).find(|&i| !in_unit(&fpr[i]) || !in_unit(&tpr[i])) {
        bail!(
            "{}: ROC point {i} is ({}, {}), expected rates within [0, 1]",
            path.display(),
            fpr[i],
            tpr[i]
        );
    }
    if !auc.is_finite() {
        bail!("{}: AUC is {auc}, expected a number", path.display());
    }
    render_atomically(path, |tmp| {
        let root = BitMapBackend::new(tmp, ROC_SIZE).into_drawing_area();
        drawing(root.fill(&WHITE))?;
        let mut chart = drawing(
            ChartBuilder::on(&root)
                .caption(format!("ROC curve (AUC = {auc:.4})"), (FONT_FAMILY, 30))
                .margin(25)
                .x_label_area_size(60)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64),
        )?;
        drawing(
            chart
                .configure_mesh()
                .x_desc("False positive rate")
                .y_desc("True positive rate")
                .axis_desc_style((FONT_FAMILY, 20))
                .label_style((FONT_FAMILY, 16))
                .x_labels(11)
                .y_labels(11)
                .x_label_formatter(&|v| format!("{v:.1}"))
                .y_label_formatter(&|v| format!("{v:.1}"))
                .light_line_style(WHITE.mix(0.0))
                .draw(),
        )?;
        let chance = RGBColor(150, 150, 150);
        drawing(chart.draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            8,
            6,
            chance.stroke_width(2),
        )))?
        .label("chance (AUC = 0.5)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], chance.stroke_width(2)));
        let curve = RGBColor(31, 119, 180);
        drawing(chart.draw_series(LineSeries::new(
            fpr.iter().copied().zip(tpr.iter().copied()),
            curve.stroke_width(3),
        )))?
        .label(format!("ranker (AUC = {auc:.4})"))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], curve.stroke_width(3)));
        drawing(
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT_FAMILY, 18))
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw(),
        )?;
        drawing(root.present())
    })
}

/// Writes a horizontal bar chart of the `top` features with the largest
/// gain, largest first. `names[i]` has gain `gains[i]`.
pub fn feature_importance_png(
    path: &Path,
    names: &[String],
    gains: &[f64],
    top: usize,
) -> Result<()> {
    if names.len() != gains.len() {
        bail!(
            "{}: {} feature names but {} gains",
            path.display(),
            names.len(),
            gains.len()
        );
    }
    if names.is_empty() || top == 0 {
        bail!("{}: no features to chart", path.display());
    }
    if let Some(i) = gains.iter().position(|g| !g.is_finite() || *g < 0.0) {
        bail!(
            "{}: feature `{}` has gain {}, expected a finite value >= 0",
            path.display(),
            names[i],
            gains[i]
        );
    }
    let mut ranked: Vec<(&str, f64)> = names
        .iter()
        .map(String::as_str)
        .zip(gains.iter().copied())
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.truncate(top);
    let rows = ranked.len();
    let max_gain = ranked.first().map_or(0.0, |r| r.1);
    let x_max = if max_gain > 0.0 { max_gain * 1.12 } else { 1.0 };
    // Room for the longest name at the label font size (about 9 px a
    // character for DejaVu Sans at 16 px).
    let longest = ranked
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0);
    let label_area = (longest as u32 * 9 + 20).clamp(80, 480);
    let height = 160 + IMPORTANCE_ROW_HEIGHT * rows as u32;

    render_atomically(path, |tmp| {
        let root = BitMapBackend::new(tmp, (IMPORTANCE_WIDTH, height)).into_drawing_area();
        drawing(root.fill(&WHITE))?;
        // Row 0 (the largest gain) at the top: the y axis counts down.
        let mut chart = drawing(
            ChartBuilder::on(&root)
                .caption(
                    format!("Feature importance (gain), top {rows}"),
                    (FONT_FAMILY, 28),
                )
                .margin(20)
                .x_label_area_size(50)
                .y_label_area_size(label_area)
                // A discrete `a..b` axis holds a..=b: `0..rows - 1` is `rows` bars.
                .build_cartesian_2d(0f64..x_max, (0..rows - 1).into_segmented()),
        )?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) if *i < rows => {
                ranked[rows - 1 - *i].0.to_owned()
            }
            _ => String::new(),
        };
        drawing(
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows)
                .y_label_formatter(&label_of)
                .x_label_formatter(&|v| {
                    if x_max >= 10.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.2}")
                    }
                })
                .x_desc("Total gain")
                .axis_desc_style((FONT_FAMILY, 18))
                .label_style((FONT_FAMILY, 16))
                .light_line_style(WHITE.mix(0.0))
                .draw(),
        )?;
        let bar = RGBColor(31, 119, 180);
        drawing(
            chart.draw_series(ranked.iter().enumerate().map(|(rank, &(_, gain))| {
                let row = rows - 1 - rank;
                let mut rect = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(row)),
                        (gain, SegmentValue::Exact(row + 1)),
                    ],
                    bar.filled(),
                );
                rect.set_margin(4, 4, 0, 0);
                rect
            })),
        )?;
        drawing(
            chart.draw_series(ranked.iter().enumerate().map(|(rank, &(_, gain))| {
                let row = rows - 1 - rank;
                Text::new(
                    format_gain(gain),
                    (gain + x_max * 0.005, SegmentValue::CenterOf(row)),
                    (FONT_FAMILY, 14).into_font().color(&BLACK),
                )
            })),
        )?;
        drawing(root.present())
    })
}

fn format_gain(gain: f64) -> String {
    if gain >= 1000.0 {
        format!("{gain:.0}")
    } else if gain >= 1.0 {
        format!("{gain:.1}")
    } else {
        format!("{gain:.3}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

    /// Width and height from the PNG's IHDR chunk.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = fs::read(path).unwrap();
        assert!(
            bytes.starts_with(PNG_SIGNATURE),
            "{} is not a PNG",
            path.display()
        );
        assert_eq!(&bytes[12..16], b"IHDR");
        let be =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (be(16), be(20))
    }

    fn no_temp_files(dir: &Path) {
        let leftovers: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn roc_curve_is_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("charts/roc_curve.png");
        let fpr = [0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0];
        let tpr = [0.0, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0];
        roc_curve_png(&path, &fpr, &tpr, 0.8123).unwrap();
        assert_eq!(png_size(&path), ROC_SIZE);
        // A real drawing, not a blank canvas: more than a few KB.
        assert!(fs::metadata(&path).unwrap().len() > 5_000);
        no_temp_files(path.parent().unwrap());
    }

    #[test]
    fn feature_importance_shows_the_top_features() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feature_importance.png");
        let names: Vec<String> = (0..30)
            .map(|i| format!("share_of_spend_category_{i:02}"))
            .collect();
        let gains: Vec<f64> = (0..30).map(|i| f64::from(i) * 37.5).collect();
        feature_importance_png(&path, &names, &gains, 12).unwrap();
        let (width, height) = png_size(&path);
        assert_eq!(width, IMPORTANCE_WIDTH);
        assert_eq!(height, 160 + 12 * IMPORTANCE_ROW_HEIGHT);
        // A single bar (the smallest axis) draws too.
        let single = dir.path().join("single.png");
        feature_importance_png(&single, &names[..1], &[0.0], 5).unwrap();
        assert_eq!(
            png_size(&single),
            (IMPORTANCE_WIDTH, 160 + IMPORTANCE_ROW_HEIGHT)
        );
        no_temp_files(dir.path());
    }

    #[test]
    fn bad_inputs_are_refused_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let roc = dir.path().join("roc.png");
        let err = roc_curve_png(&roc, &[0.0, 1.0], &[0.0], 0.5)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("roc.png") && err.contains("2 false positive rates"),
            "{err}"
        );
        let err = roc_curve_png(&roc, &[0.0, 1.5], &[0.0, 1.0], 0.5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("point 1"), "{err}");
        let imp = dir.path().join("imp.png");
        let names = vec!["a".to_owned(), "b".to_owned()];
        let err = feature_importance_png(&imp, &names, &[1.0, f64::NAN], 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`b`"), "{err}");
        assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}

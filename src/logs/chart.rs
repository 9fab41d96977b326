//! PNG charts with `plotters`: the per-minute timeline (statements and their total duration)
//! and the top fingerprints by total time.
//!
//! Drawn into an RGB buffer with plotters' bitmap backend and encoded with the `png` crate;
//! text uses the DejaVu Sans Mono font compiled in (`DejaVuSansMono.ttf`, licence in
//! `DejaVuSansMono.LICENSE` beside this file), so no system fonts or fontconfig are needed.

use super::report::human_ms;
use super::time::format_ms;
use super::{Analysis, LogError};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Width and height of each chart, pixels.
pub const SIZE: (u32, u32) = (1200, 700);
/// Most bars in the timeline; longer periods are grouped into buckets of several minutes.
pub const MAX_BARS: usize = 600;
/// Fingerprints in the top chart.
pub const TOP_BARS: usize = 15;

static FONT: &[u8] = include_bytes!("DejaVuSansMono.ttf");
static REGISTER: Once = Once::new();

fn font() {
    REGISTER.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            tracing::warn!("the bundled chart font could not be loaded; charts will lack text");
        }
    });
}

fn err(path: &Path) -> impl Fn(String) -> LogError + '_ {
    move |message| LogError::Output {
        path: path.to_path_buf(),
        message,
    }
}

fn write_png(path: &Path, buf: &[u8]) -> Result<(), LogError> {
    let f = std::fs::File::create(path).map_err(|e| err(path)(e.to_string()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), SIZE.0, SIZE.1);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| err(path)(e.to_string()))?;
    w.write_image_data(buf)
        .map_err(|e| err(path)(e.to_string()))?;
    w.finish().map_err(|e| err(path)(e.to_string()))
}

/// (bucket start minute, statements, total seconds, errors) in at most [`MAX_BARS`] buckets.
fn buckets(a: &Analysis) -> (i64, Vec<(i64, u64, f64, u64)>) {
    let tl = &a.agg.timeline;
    let (Some(first), Some(last)) = (tl.keys().next(), tl.keys().next_back()) else {
        return (1, Vec::new());
    };
    let span = (last - first + 1).max(1);
    let width = ((span as usize).div_ceil(MAX_BARS)).max(1) as i64;
    let mut out: Vec<(i64, u64, f64, u64)> = Vec::new();
    for (m, v) in tl {
        let b = first + (m - first) / width * width;
        match out.last_mut() {
            Some(last) if last.0 == b => {
                last.1 += v.queries;
                last.2 += v.total_ms / 1000.0;
                last.3 += v.errors;
            }
            _ => out.push((b, v.queries, v.total_ms / 1000.0, v.errors)),
        }
    }
    (width, out)
}

fn timeline(a: &Analysis, path: &Path) -> Result<(), LogError> {
    let (width, data) = buckets(a);
    let mut buf = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path)(e.to_string()))?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2);
        let x0 = data.first().map_or(0, |d| d.0);
        let x1 = data.last().map_or(1, |d| d.0 + width);
        let label = |m: &i64| {
            let s = format_ms(m * 60_000);
            s.get(5..16).unwrap_or(&s).to_string()
        };
        let unit = if width == 1 {
            "minute".to_string()
        } else {
            format!("{width} minutes")
        };
        let max_q = data.iter().map(|d| d.1).max().unwrap_or(1).max(1);
        let mut c = ChartBuilder::on(&top)
            .caption(format!("Statements per {unit} (UTC)"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0u64..max_q + max_q / 10 + 1)
            .map_err(|e| err(path)(e.to_string()))?;
        c.configure_mesh()
            .x_labels(8)
            .x_label_formatter(&label)
            .draw()
            .map_err(|e| err(path)(e.to_string()))?;
        c.draw_series(
            data.iter()
                .map(|d| Rectangle::new([(d.0, 0), (d.0 + width, d.1)], BLUE.mix(0.7).filled())),
        )
        .map_err(|e| err(path)(e.to_string()))?;
        let max_s = data.iter().map(|d| d.2).fold(0.0f64, f64::max).max(0.001);
        let mut c = ChartBuilder::on(&bottom)
            .caption(
                format!("Statement time per {unit}, seconds (red: errors)"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0f64..max_s * 1.1)
            .map_err(|e| err(path)(e.to_string()))?;
        c.configure_mesh()
            .x_labels(8)
            .x_label_formatter(&label)
            .draw()
            .map_err(|e| err(path)(e.to_string()))?;
        c.draw_series(LineSeries::new(
            data.iter().map(|d| (d.0, d.2)),
            RGBColor(200, 100, 0).stroke_width(2),
        ))
        .map_err(|e| err(path)(e.to_string()))?;
        c.draw_series(
            data.iter()
                .filter(|d| d.3 > 0)
                .map(|d| Circle::new((d.0, d.2), 3, RED.filled())),
        )
        .map_err(|e| err(path)(e.to_string()))?;
        root.present().map_err(|e| err(path)(e.to_string()))?;
    }
    write_png(path, &buf)
}

fn top(a: &Analysis, path: &Path) -> Result<(), LogError> {
    let top: Vec<_> = a.agg.top().into_iter().take(TOP_BARS).collect();
    let n = top.len().max(1) as f64;
    let max = top
        .iter()
        .map(|t| t.1.total_ms)
        .fold(0.0f64, f64::max)
        .max(0.001);
    let mut buf = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path)(e.to_string()))?;
        let mut c = ChartBuilder::on(&root)
            .caption("Top statements by total time", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..max * 1.05, 0f64..n)
            .map_err(|e| err(path)(e.to_string()))?;
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_label_formatter(&|v| human_ms(*v))
            .draw()
            .map_err(|e| err(path)(e.to_string()))?;
        c.draw_series(top.iter().enumerate().map(|(i, t)| {
            let y = n - i as f64;
            Rectangle::new(
                [(0.0, y - 0.85), (t.1.total_ms, y - 0.15)],
                RGBColor(70, 130, 180).filled(),
            )
        }))
        .map_err(|e| err(path)(e.to_string()))?;
        c.draw_series(top.iter().enumerate().map(|(i, t)| {
            let y = n - i as f64 - 0.3;
            let fp: String = t.0.chars().take(90).collect();
            Text::new(
                format!(
                    "#{} {} — {} calls, {}",
                    i + 1,
                    fp,
                    t.1.calls,
                    human_ms(t.1.total_ms)
                ),
                (max * 0.005, y),
                ("sans-serif", 13).into_font().color(&BLACK),
            )
        }))
        .map_err(|e| err(path)(e.to_string()))?;
        root.present().map_err(|e| err(path)(e.to_string()))?;
    }
    write_png(path, &buf)
}

/// Draws `timeline.png` and `top_statements.png` into `dir` (created if missing); returns the
/// paths written (the top chart only when there are statements).
///
/// # Errors
/// [`LogError::Output`] when drawing or writing fails.
pub fn write_charts(a: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    font();
    std::fs::create_dir_all(dir).map_err(|e| err(dir)(e.to_string()))?;
    let mut out = Vec::new();
    let p = dir.join("timeline.png");
    timeline(a, &p)?;
    out.push(p);
    if !a.agg.queries.is_empty() {
        let p = dir.join("top_statements.png");
        top(a, &p)?;
        out.push(p);
    }
    Ok(out)
}

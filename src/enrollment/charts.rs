//! Charts as SVG drawn on the server (plotters): the coverage trend, the event study with its
//! intervals and the dose-response binned scatter. Lines differ by dash and marker as well as
//! colour, so they read when printed in grey.
use chrono::NaiveDate;
use plotters::prelude::*;

use super::analysis::EventTime;
use crate::error::{AppError, AppResult};

fn fail(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("chart: {e}"))
}

/// Coverage (percent) by date, with the target as a dashed line.
pub fn trend(points: &[(NaiveDate, f64)], target: f64, title: &str) -> AppResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let n = points.len().max(2) as i32;
        let lo = points.iter().map(|p| p.1).fold(target, f64::min).min(100.0);
        let y0 = (lo - 5.0).clamp(0.0, 95.0).floor();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .margin_right(32)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0..n - 1, y0..100.0)
            .map_err(fail)?;
        let labels: Vec<String> = points
            .iter()
            .map(|p| p.0.format("%m/%Y").to_string())
            .collect();
        chart
            .configure_mesh()
            .x_labels(points.len().min(12))
            .x_label_formatter(&|i| labels.get(*i as usize).cloned().unwrap_or_default())
            .y_desc("%")
            .max_light_lines(1)
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().enumerate().map(|(i, p)| (i as i32, p.1)),
                BLACK.stroke_width(2),
            ))
            .map_err(fail)?;
        chart
            .draw_series(
                points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Circle::new((i as i32, p.1), 3, BLACK.filled())),
            )
            .map_err(fail)?;
        // The target: a dashed grey line (a segment every other step).
        for x in (0..n - 1).step_by(2) {
            chart
                .draw_series(LineSeries::new(
                    [(x, target), (x + 1, target)],
                    RGBColor(110, 110, 110),
                ))
                .map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// Effects by months since treatment with 95% intervals; a dotted line at zero and at e = −1.
pub fn event_study(points: &[EventTime], title: &str) -> AppResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let (emin, emax) = points
            .iter()
            .fold((0i64, 0i64), |(a, b), p| (a.min(p.e), b.max(p.e)));
        let lo = points
            .iter()
            .map(|p| p.lo.unwrap_or(p.att))
            .fold(0.0_f64, f64::min);
        let hi = points
            .iter()
            .map(|p| p.hi.unwrap_or(p.att))
            .fold(0.0_f64, f64::max);
        let pad = ((hi - lo) * 0.1).max(0.5);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d((emin - 1)..(emax + 1), (lo - pad)..(hi + pad))
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc("e")
            .y_desc("pp")
            .max_light_lines(1)
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(LineSeries::new(
                [(emin - 1, 0.0), (emax + 1, 0.0)],
                RGBColor(120, 120, 120),
            ))
            .map_err(fail)?;
        chart
            .draw_series(points.iter().filter_map(|p| {
                Some(PathElement::new(
                    vec![(p.e, p.lo?), (p.e, p.hi?)],
                    BLACK.stroke_width(1),
                ))
            }))
            .map_err(fail)?;
        chart
            .draw_series(points.iter().map(|p| {
                // Before treatment: hollow squares; after: filled circles.
                if p.e < 0 {
                    EmptyElement::at((p.e, p.att))
                        + Rectangle::new([(-4, -4), (4, 4)], BLACK.stroke_width(1))
                } else {
                    EmptyElement::at((p.e, p.att))
                        + Rectangle::new([(-4, -4), (4, 4)], BLACK.filled())
                }
            }))
            .map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// Binned means of uplift against engagement, with the fitted slope through their centre.
pub fn binned_scatter(
    bins: &[(f64, f64)],
    slope: f64,
    title: &str,
    x_desc: &str,
) -> AppResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let xmax = bins.iter().map(|b| b.0).fold(1.0_f64, f64::max) * 1.1;
        let ylo = bins.iter().map(|b| b.1).fold(0.0_f64, f64::min) - 1.0;
        let yhi = bins.iter().map(|b| b.1).fold(1.0_f64, f64::max) + 1.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..xmax, ylo..yhi)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("pp")
            .max_light_lines(1)
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(bins.iter().map(|b| Circle::new(*b, 4, BLACK.filled())))
            .map_err(fail)?;
        if !bins.is_empty() {
            let n = bins.len() as f64;
            let (mx, my) = (
                bins.iter().map(|b| b.0).sum::<f64>() / n,
                bins.iter().map(|b| b.1).sum::<f64>() / n,
            );
            chart
                .draw_series(LineSeries::new(
                    [(0.0, my - slope * mx), (xmax, my + slope * (xmax - mx))],
                    BLACK.stroke_width(1),
                ))
                .map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// A delivery funnel: one horizontal bar per stage, longest first, each labelled with its count.
pub fn funnel(stages: &[(String, u64)], title: &str) -> AppResult<String> {
    let mut svg = String::new();
    {
        let h = 60 + 34 * stages.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (640, h)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let max = stages.iter().map(|s| s.1).max().unwrap_or(1).max(1) as f64;
        let n = stages.len() as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..max * 1.15, (0..n).into_segmented())
            .map_err(fail)?;
        let names: Vec<String> = stages.iter().map(|s| s.0.clone()).collect();
        let name_at = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) if (0..n).contains(i) => names[(n - 1 - i) as usize].clone(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(1)
            .y_labels(stages.len().max(1))
            .y_label_formatter(&name_at)
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(stages.iter().enumerate().map(|(k, s)| {
                let y = n - 1 - k as i32;
                // Alternating dark and light grey, so neighbouring stages read apart in print.
                let style = if k % 2 == 0 {
                    RGBColor(60, 60, 60).filled()
                } else {
                    RGBColor(160, 160, 160).filled()
                };
                Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(y)),
                        (s.1 as f64, SegmentValue::Exact(y + 1)),
                    ],
                    style,
                )
            }))
            .map_err(fail)?;
        chart
            .draw_series(stages.iter().enumerate().map(|(k, s)| {
                let y = n - 1 - k as i32;
                Text::new(
                    s.1.to_string(),
                    (s.1 as f64 + max * 0.01, SegmentValue::CenterOf(y)),
                    ("sans-serif", 14),
                )
            }))
            .map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_text() {
        let d = |m| NaiveDate::from_ymd_opt(2025, m, 28).unwrap();
        let svg = trend(
            &[(d(9), 61.0), (d(10), 66.5), (d(11), 72.0)],
            100.0,
            "Độ bao phủ",
        )
        .unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("Độ bao phủ") && svg.contains("10/2025"),
            "{svg}"
        );
        let es = [
            EventTime {
                e: -2,
                att: 0.1,
                se: Some(0.3),
                lo: Some(-0.5),
                hi: Some(0.7),
            },
            EventTime {
                e: 0,
                att: 4.0,
                se: Some(0.5),
                lo: Some(3.0),
                hi: Some(5.0),
            },
        ];
        let svg = event_study(&es, "Event study").unwrap();
        assert!(svg.contains("<rect") && svg.contains("Event study"));
        let svg = binned_scatter(&[(1.0, 2.0), (5.0, 4.0)], 0.5, "Dose", "per 100").unwrap();
        assert!(svg.contains("<circle"));
        let svg = funnel(
            &[
                ("Đã gửi".into(), 120),
                ("Đã đến máy".into(), 100),
                ("Đã mở".into(), 40),
            ],
            "Phễu",
        )
        .unwrap();
        assert!(
            svg.contains("Đã đến máy") && svg.contains("\n100\n"),
            "{svg}"
        );
        assert_eq!(
            svg.matches("Đã gửi").count(),
            1,
            "each stage labelled once: {svg}"
        );
    }
}

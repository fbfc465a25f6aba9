//! The Pareto plot of a leaderboard as SVG: score against a hardware cost, the
//! non-dominated front drawn as a staircase, baselines and over-budget entries
//! marked. Server-side, no JavaScript.

use std::fmt::Write;

use scoring::{ParetoPoint, pareto_front};

use crate::leaderboard::{Leaderboard, Row};

/// The cost axis of a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Latency in nanoseconds.
    Latency,
    /// LUT + 55 x DSP, the LUT-equivalent area of a design.
    Area,
}

impl Axis {
    pub fn parse(text: &str) -> Option<Axis> {
        match text {
            "latency" | "latency_ns" => Some(Axis::Latency),
            "area" | "resources" | "lut_dsp" => Some(Axis::Area),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Axis::Latency => "latency (ns)",
            Axis::Area => "LUT + 55 × DSP",
        }
    }

    fn value(self, row: &Row) -> Option<f64> {
        match self {
            Axis::Latency => row.hardware.latency_ns,
            Axis::Area => Some(row.hardware.lut? as f64 + 55.0 * row.hardware.dsp? as f64),
        }
    }
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 50.0;

/// Render the plot; `higher_is_better` orients the score axis.
pub fn svg(board: &Leaderboard, axis: Axis, higher_is_better: bool) -> String {
    let points: Vec<(&Row, f64, f64)> = board
        .rows
        .iter()
        .filter_map(|r| Some((r, axis.value(r)?, r.score)))
        .filter(|(_, x, y)| x.is_finite() && y.is_finite())
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Pareto plot of {metric} against {label}" font-family="sans-serif" font-size="12">"##,
        metric = escape(&board.metric),
        label = axis.label()
    );
    let _ = write!(
        out,
        r##"<title>{} — {} against {}</title>"##,
        escape(&board.challenge),
        escape(&board.metric),
        axis.label()
    );
    let _ = write!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>"##
    );
    if points.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#5b6577">No finished entries with hardware figures yet</text></svg>"##,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return out;
    }
    let (x_min, x_max) = bounds(points.iter().map(|p| p.1));
    let (y_min, y_max) = bounds(points.iter().map(|p| p.2));
    let log_x = x_min > 0.0 && x_max / x_min > 100.0;
    let sx = |x: f64| {
        let t = if log_x {
            (x.ln() - x_min.ln()) / (x_max.ln() - x_min.ln())
        } else {
            (x - x_min) / (x_max - x_min)
        };
        LEFT + t * (WIDTH - LEFT - RIGHT)
    };
    let sy = |y: f64| TOP + (1.0 - (y - y_min) / (y_max - y_min)) * (HEIGHT - TOP - BOTTOM);
    axes(
        &mut out,
        axis,
        &board.metric,
        (x_min, x_max),
        (y_min, y_max),
        log_x,
        &sx,
        &sy,
    );

    let front_input: Vec<ParetoPoint> = points
        .iter()
        .filter(|p| p.0.in_budget)
        .map(|p| ParetoPoint {
            id: p.0.submission_id.clone(),
            score: p.2,
            cost: p.1,
        })
        .collect();
    let mut front = pareto_front(&front_input, higher_is_better).unwrap_or_default();
    front.sort_by(|a, b| a.cost.total_cmp(&b.cost));
    if front.len() > 1 {
        let mut path = String::new();
        for (i, p) in front.iter().enumerate() {
            if i == 0 {
                let _ = write!(path, "M{:.1},{:.1}", sx(p.cost), sy(p.score));
            } else {
                let _ = write!(path, " H{:.1} V{:.1}", sx(p.cost), sy(p.score));
            }
        }
        let _ = write!(
            out,
            r##"<path d="{path}" fill="none" stroke="#0b6bcb" stroke-width="1.5" stroke-dasharray="4 3"/>"##
        );
    }
    for (row, x, y) in &points {
        let on_front = front.iter().any(|p| p.id == row.submission_id);
        let fill = if !row.in_budget {
            "none"
        } else if on_front {
            "#0b6bcb"
        } else {
            "#8fa3bf"
        };
        let shape = if row.is_baseline {
            let (cx, cy) = (sx(*x), sy(*y));
            format!(
                r##"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{fill}" stroke="#1d2330"/>"##,
                cx - 4.5,
                cy - 4.5
            )
        } else {
            format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="5" fill="{fill}" stroke="#1d2330"/>"##,
                sx(*x),
                sy(*y)
            )
        };
        let who = if row.is_baseline {
            format!("baseline {}", row.label)
        } else {
            format!("{} {}", row.participant, row.label)
        };
        let _ = write!(
            out,
            r##"<g class="entry" data-submission="{id}"><title>#{rank} {who}: {metric} {y:.4}, {axis} {x:.1}{budget}</title>{shape}</g>"##,
            id = row.submission_id,
            rank = row.rank,
            who = escape(who.trim()),
            metric = escape(&board.metric),
            axis = axis.label(),
            budget = if row.in_budget { "" } else { " (over budget)" },
        );
    }
    let _ = write!(
        out,
        r##"<g transform="translate({},{})"><circle cx="0" cy="0" r="5" fill="#0b6bcb" stroke="#1d2330"/><text x="10" y="4">Pareto front</text><rect x="100" y="-4.5" width="9" height="9" fill="#8fa3bf" stroke="#1d2330"/><text x="114" y="4">baseline</text><circle cx="185" cy="0" r="5" fill="none" stroke="#1d2330"/><text x="195" y="4">over budget</text></g>"##,
        LEFT, 12.0
    );
    out.push_str("</svg>");
    out
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.08;
    if lo >= 0.0 && lo - pad < 0.0 {
        (lo * 0.9, hi + pad)
    } else {
        (lo - pad, hi + pad)
    }
}

#[allow(clippy::too_many_arguments)]
fn axes(
    out: &mut String,
    axis: Axis,
    metric: &str,
    x: (f64, f64),
    y: (f64, f64),
    log_x: bool,
    sx: &dyn Fn(f64) -> f64,
    sy: &dyn Fn(f64) -> f64,
) {
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let _ = write!(
        out,
        r##"<path d="M{x0},{y0} V{y1} H{x1}" fill="none" stroke="#1d2330"/>"##
    );
    for i in 0..=4 {
        let t = i as f64 / 4.0;
        let xv = if log_x {
            (x.0.ln() + t * (x.1.ln() - x.0.ln())).exp()
        } else {
            x.0 + t * (x.1 - x.0)
        };
        let yv = y.0 + t * (y.1 - y.0);
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#5b6577">{}</text>"##,
            sx(xv),
            y1 + 16.0,
            tick(xv)
        );
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#5b6577">{}</text>"##,
            x0 - 6.0,
            sy(yv) + 4.0,
            tick(yv)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}{}</text>"##,
        (x0 + x1) / 2.0,
        HEIGHT - 12.0,
        axis.label(),
        if log_x { " (log scale)" } else { "" }
    );
    let _ = write!(
        out,
        r##"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        (y0 + y1) / 2.0,
        escape(metric)
    );
}

fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

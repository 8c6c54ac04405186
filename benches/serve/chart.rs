//! `serve.svg` and `http.svg`: a grouped bar chart of each contestant's ratio to the
//! baseline (tokio-raw; `axum::serve` for HTTP) on the headline metrics, with the targets
//! dashed, drawn with plotters' SVG backend.
//!
//! plotters is built with `default-features = false, features = ["svg_backend"]`: four
//! small crates (plotters, plotters-backend, plotters-svg, num-traits), no font loading
//! (SVG text is laid out by the viewer) and no series features, since the bars are plain
//! `Rectangle`s placed by hand.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::contestants::{AXUM_SERVE, TOKIO_RAW};
use crate::results::Workload;

/// What one chart shows.
pub struct Spec {
    pub caption: &'static str,
    /// The headline metrics: (workload key, metric key, group label, lower is better).
    pub picks: &'static [(&'static str, &'static str, &'static str, bool)],
    /// The contestants, the baseline first.
    pub contestants: [&'static str; 3],
    /// Dashed lines: (ratio, legend).
    pub targets: &'static [(f64, &'static str)],
}

/// The main race's chart.
pub const MAIN: Spec = Spec {
    caption: "Ratio to tokio-raw (median of interleaved rounds; 1.0 = tokio-raw)",
    picks: &[
        ("conn-rate", "conns_per_s", "connections/s", false),
        ("ping-pong", "round_trips_per_s", "round trips/s", false),
        ("streaming", "mb_per_s", "streaming MB/s", false),
        ("conn-rate", "server_cpu_us_per_conn", "server CPU/conn", true),
        ("ping-pong", "server_cpu_us_per_rt", "server CPU/round trip", true),
        ("idle-memory", "bytes_per_conn", "idle RSS/conn", true),
    ],
    contestants: [TOKIO_RAW, "tcp-serve", "actix-server"],
    targets: &[(0.97, "dashed: 0.97 target")],
};

/// The HTTP race's chart.
pub const HTTP: Spec = Spec {
    caption: "HTTP: ratio to axum::serve (median of interleaved rounds; 1.0 = axum::serve)",
    picks: &[
        ("keep-alive", "requests_per_s", "keep-alive req/s", false),
        ("close", "requests_per_s", "conn-per-request req/s", false),
        ("h2", "requests_per_s", "HTTP/2 req/s", false),
        ("keep-alive", "server_cpu_us_per_request", "keep-alive CPU/req", true),
        ("close", "server_cpu_us_per_request", "conn-per-req CPU/req", true),
        ("h2", "server_cpu_us_per_request", "HTTP/2 CPU/req", true),
    ],
    contestants: [AXUM_SERVE, "tcp-serve", "hyper-util"],
    targets: &[(0.97, "dashed: 0.97 (req/s) and 1.05 (CPU/req) targets"), (1.05, "")],
};

const COLORS: [RGBColor; 3] =
    [RGBColor(0x9e, 0x9e, 0x9e), RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e)];
const SIZE: (u32, u32) = (900, 420);
/// Ratios are drawn up to this, so one outlier does not flatten the rest.
const MAX_RATIO: f64 = 4.0;

/// One group of bars: a metric's label and each contestant's ratio, if it ran.
struct Group {
    label: &'static str,
    lower_is_better: bool,
    ratios: Vec<Option<f64>>,
}

/// The chart as an SVG document.
pub fn chart(workloads: &[Workload], spec: &Spec) -> String {
    let groups: Vec<Group> = spec
        .picks
        .iter()
        .filter_map(|&(wk, mk, label, lower_is_better)| {
            let w = workloads.iter().find(|w| w.key == wk)?;
            let mi = w.metrics.iter().position(|m| m.key == mk)?;
            let ratios = spec
                .contestants
                .iter()
                .map(|c| w.rows.iter().find(|r| r.contestant == *c).and_then(|r| w.ratio(r, mi)))
                .collect();
            Some(Group { label, lower_is_better, ratios })
        })
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        if let Err(e) = draw(&root, &groups, spec) {
            eprintln!("chart: {e}");
        }
        // Dropping `root` would swallow a write error; `present` reports it.
        let _ = root.present();
    }
    svg
}

type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw(root: &DrawingArea<SVGBackend<'_>, Shift>, groups: &[Group], spec: &Spec) -> Drawn {
    root.fill(&WHITE)?;
    let top = groups
        .iter()
        .flat_map(|g| g.ratios.iter().flatten().copied())
        .fold(1.2_f64, f64::max)
        .min(MAX_RATIO);
    let top = (top * 5.0).ceil() / 5.0;
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(spec.caption, ("sans-serif", 15))
        .margin(10)
        .margin_bottom(70)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..n, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(((top / 0.2).round() as usize) + 1)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .y_max_light_lines(0)
        .draw()?;
    chart.draw_series([PathElement::new([(0.0, 1.0), (n, 1.0)], BLACK.mix(0.7))])?;
    for &(target, _) in spec.targets {
        let line = [(0.0, target), (n, target)];
        chart.draw_series([DashedPathElement::new(line, 4, 3, BLACK.mix(0.7))])?;
    }

    let bar = 0.8 / spec.contestants.len() as f64;
    let value_style = TextStyle::from(("sans-serif", 10)).pos(Pos::new(HPos::Center, VPos::Bottom));
    let label_style = TextStyle::from(("sans-serif", 12)).pos(Pos::new(HPos::Center, VPos::Top));
    for (gi, group) in groups.iter().enumerate() {
        let x0 = gi as f64 + 0.1;
        for (ci, ratio) in group.ratios.iter().enumerate() {
            let Some(ratio) = *ratio else { continue };
            let (left, right) = (x0 + bar * ci as f64, x0 + bar * (ci as f64 + 0.95));
            let height = ratio.min(top);
            chart.draw_series([Rectangle::new(
                [(left, 0.0), (right, height)],
                COLORS[ci].filled(),
            )])?;
            chart.draw_series([Text::new(
                format!("{ratio:.2}"),
                ((left + right) / 2.0, height),
                value_style.clone(),
            )])?;
        }
        // Group labels sit below the plotting area, so they go on the root area.
        let (x, y) = chart.backend_coord(&(gi as f64 + 0.5, 0.0));
        root.draw(&Text::new(group.label, (x, y + 6), label_style.clone()))?;
        if group.lower_is_better {
            let style = label_style.clone().color(&RGBColor(0x66, 0x66, 0x66));
            root.draw(&Text::new("(lower is better)", (x, y + 21), style))?;
        }
    }

    let legend_y = SIZE.1 as i32 - 22;
    for (ci, contestant) in spec.contestants.iter().enumerate() {
        let x = 60 + 160 * ci as i32;
        root.draw(&Rectangle::new(
            [(x, legend_y - 10), (x + 12, legend_y + 2)],
            COLORS[ci].filled(),
        ))?;
        root.draw(&Text::new(*contestant, (x + 16, legend_y - 10), ("sans-serif", 12)))?;
    }
    let legend = spec.targets.first().map_or("", |(_, legend)| *legend);
    root.draw(&Text::new(legend, (540, legend_y - 10), ("sans-serif", 12)))?;
    Ok(())
}

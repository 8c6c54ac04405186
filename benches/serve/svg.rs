//! `serve.svg`: a grouped bar chart of each main contestant's ratio to tokio-raw on the
//! headline metrics, with the 0.97 target dashed.

use std::fmt::Write as _;

use crate::results::Workload;

/// A grouped bar chart of each contestant's ratio to tokio-raw, per headline metric.
pub fn chart(workloads: &[Workload]) -> String {
    let picks: &[(&str, &str, &str)] = &[
        ("conn-rate", "conns_per_s", "connections/s"),
        ("ping-pong", "round_trips_per_s", "round trips/s"),
        ("streaming", "mb_per_s", "streaming MB/s"),
        ("conn-rate", "server_cpu_us_per_conn", "server CPU/conn (lower better)"),
        ("ping-pong", "server_cpu_us_per_rt", "server CPU/round trip (lower better)"),
        ("idle-memory", "bytes_per_conn", "idle RSS/conn (lower better)"),
    ];
    let contestants = ["tokio-raw", "tcp-serve", "actix-server"];
    let colors = ["#9e9e9e", "#1f77b4", "#ff7f0e"];
    let mut groups = Vec::new();
    for (wk, mk, label) in picks {
        let Some(w) = workloads.iter().find(|w| w.key == *wk) else { continue };
        let Some(mi) = w.metrics.iter().position(|m| m.key == *mk) else { continue };
        let values: Vec<Option<f64>> = contestants
            .iter()
            .map(|c| w.rows.iter().find(|r| r.contestant == *c).and_then(|r| w.ratio(r, mi)))
            .collect();
        groups.push((*label, values));
    }
    let (width, height) = (900.0, 420.0);
    let (left, right, top, bottom) = (60.0, 20.0, 50.0, 90.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let max = groups
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(1.2_f64, f64::max)
        .min(4.0);
    let max = (max * 5.0).ceil() / 5.0;
    let y = |v: f64| top + plot_h * (1.0 - v.min(max) / max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Ratio to tokio-raw \
         (median of interleaved rounds; 1.0 = tokio-raw)</text>",
        width / 2.0
    );
    let mut tick = 0.0;
    while tick <= max + 1e-9 {
        let ty = y(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.1}</text>",
            width - right,
            left - 6.0,
            ty + 4.0
        );
        tick += 0.2;
    }
    for (level, dash) in [(1.0, "none"), (0.97, "4,3")] {
        let ly = y(level);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"#444\" \
             stroke-dasharray=\"{dash}\"/>",
            width - right
        );
    }
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = group_w * 0.8 / contestants.len() as f64;
    for (gi, (label, values)) in groups.iter().enumerate() {
        let gx = left + group_w * gi as f64 + group_w * 0.1;
        for (ci, v) in values.iter().enumerate() {
            let x = gx + bar_w * ci as f64;
            let Some(v) = v else { continue };
            let by = y(*v);
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
                 fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 font-size=\"10\">{v:.2}</text>",
                bar_w - 2.0,
                (top + plot_h - by).max(0.0),
                colors[ci],
                x + bar_w / 2.0 - 1.0,
                by - 3.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + group_w * 0.4,
            top + plot_h + 16.0,
            label.replace(" (lower better)", "")
        );
        if label.contains("lower better") {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#666\">(lower is \
                 better)</text>",
                gx + group_w * 0.4,
                top + plot_h + 30.0
            );
        }
    }
    for (ci, c) in contestants.iter().enumerate() {
        let lx = left + 160.0 * ci as f64;
        let ly = height - 22.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" \
             y=\"{ly}\">{c}</text>",
            ly - 10.0,
            colors[ci],
            lx + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" fill=\"#444\">dashed: 0.97 target</text>",
        left + 500.0,
        height - 22.0
    );
    s.push_str("</svg>\n");
    s
}

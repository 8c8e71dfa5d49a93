//! Minimal SVG charts for `qbench publish`: a scatter plot with a marked front and labelled
//! points, and horizontal bar charts (plain or grouped). Text is left to the SVG viewer (no font
//! files needed, unlike raster plotting crates); label widths are estimated generously so that
//! nothing overlaps.

use std::fmt::Write;

/// Colours for series (colour-blind safe, Okabe-Ito).
pub const PALETTE: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
];

const FONT: &str = "font-family=\"DejaVu Sans, Verdana, sans-serif\"";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Approximate width in pixels of `s` at `size` px (average glyph ~0.6 em).
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// "Nice" tick values covering `[lo, hi]` (about `n` of them).
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() * step;
    let mut v = Vec::new();
    let mut x = start;
    while x <= hi + step * 1e-9 {
        v.push(if x.abs() < step * 1e-9 { 0.0 } else { x });
        x += step;
    }
    v
}

/// Decade ticks (1, 2, 5 x 10^k) covering `[lo, hi]` for a log axis.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut v = Vec::new();
    let mut k = lo.log10().floor() as i32;
    while 10f64.powi(k) <= hi * 1.0001 {
        for m in [1.0, 2.0, 5.0] {
            let x = m * 10f64.powi(k);
            if x >= lo * 0.9999 && x <= hi * 1.0001 {
                v.push(x);
            }
        }
        k += 1;
    }
    v
}

fn fmt_tick(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{}", (x * 100.0).round() / 100.0)
    } else {
        format!("{}", (x * 1000.0).round() / 1000.0)
    }
}

struct Doc {
    out: String,
    width: f64,
    height: f64,
}

impl Doc {
    fn new(width: f64, height: f64, title: &str) -> Doc {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" {FONT}>"
        );
        let _ = writeln!(
            out,
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"26\" \
             font-size=\"17\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
            width / 2.0,
            esc(title)
        );
        Doc { out, width, height }
    }

    fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, s: &str, extra: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{anchor}\" {extra}>{}</text>",
            esc(s)
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {style}/>"
        );
    }

    fn finish(mut self) -> String {
        let _ = (self.width, self.height);
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// A point of a scatter plot.
#[derive(Clone, Debug)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub series: usize,
    pub label: String,
}

/// Scatter plot with a logarithmic x axis; `front` points (indices) are joined by a dashed step
/// line and labelled. `series` names the colours in a legend.
pub fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[String],
    points: &[Point],
    front: &[usize],
) -> String {
    let (w, h) = (980.0, 620.0);
    let (left, right, top, bottom) = (80.0, 250.0, 50.0, 70.0);
    let mut d = Doc::new(w, h, title);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let finite: Vec<&Point> = points
        .iter()
        .filter(|p| p.x > 0.0 && p.y.is_finite())
        .collect();
    let (mut x0, mut x1) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
    let (mut y0, mut y1) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
    if finite.is_empty() {
        (x0, x1, y0, y1) = (0.1, 1.0, 0.0, 1.0);
    }
    x0 = 10f64.powf(x0.log10().floor());
    x1 = 10f64.powf(x1.log10().ceil());
    let pad = ((y1 - y0) * 0.08).max(0.2);
    y0 -= pad;
    y1 += pad;
    let sx = |x: f64| left + (x.log10() - x0.log10()) / (x1.log10() - x0.log10()) * pw;
    let sy = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
    // Grid and axes.
    for t in log_ticks(x0, x1) {
        let x = sx(t);
        d.line(x, top, x, top + ph, "stroke=\"#e5e5e5\"");
        d.text(x, top + ph + 20.0, 12.0, "middle", &fmt_tick(t), "");
    }
    for t in ticks(y0, y1, 6) {
        let y = sy(t);
        d.line(left, y, left + pw, y, "stroke=\"#e5e5e5\"");
        d.text(left - 8.0, y + 4.0, 12.0, "end", &fmt_tick(t), "");
    }
    d.line(left, top + ph, left + pw, top + ph, "stroke=\"black\"");
    d.line(left, top, left, top + ph, "stroke=\"black\"");
    d.text(left + pw / 2.0, h - 20.0, 14.0, "middle", x_label, "");
    d.text(
        20.0,
        top + ph / 2.0,
        14.0,
        "middle",
        y_label,
        &format!("transform=\"rotate(-90 20 {:.1})\"", top + ph / 2.0),
    );
    // Front as a dashed step line (x ascending).
    let mut f: Vec<&Point> = front.iter().filter_map(|i| points.get(*i)).collect();
    f.sort_by(|a, b| a.x.total_cmp(&b.x));
    if f.len() > 1 {
        let mut path = format!("M{:.1},{:.1}", sx(f[0].x), sy(f[0].y));
        for p in &f[1..] {
            let _ = write!(path, " H{:.1} V{:.1}", sx(p.x), sy(p.y));
        }
        let _ = writeln!(
            d.out,
            "<path d=\"{path}\" fill=\"none\" stroke=\"#444\" stroke-dasharray=\"5,4\"/>"
        );
    }
    for p in &finite {
        let c = PALETTE[p.series % PALETTE.len()];
        let _ = writeln!(
            d.out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{c}\" fill-opacity=\"0.8\"><title>{}</title></circle>",
            sx(p.x),
            sy(p.y),
            esc(&p.label)
        );
    }
    // Labels of the front points, nudged apart vertically when they would overlap.
    let mut placed: Vec<(f64, f64, f64)> = Vec::new(); // x, y, width
    for p in &f {
        let (mut x, mut y) = (sx(p.x) + 8.0, sy(p.y) - 8.0);
        let wdt = text_width(&p.label, 11.0);
        if x + wdt > left + pw {
            x = sx(p.x) - 8.0 - wdt;
        }
        while placed
            .iter()
            .any(|(px, py, pw)| (py - y).abs() < 13.0 && x < px + pw && px < &(x + wdt))
        {
            y += 13.0;
        }
        placed.push((x, y, wdt));
        // A white halo keeps the label readable over lines and points.
        d.text(
            x,
            y,
            11.0,
            "start",
            &p.label,
            "fill=\"#222\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\"",
        );
    }
    // Legend.
    let lx = left + pw + 20.0;
    d.text(
        lx,
        top + 10.0,
        13.0,
        "start",
        "backend",
        "font-weight=\"bold\"",
    );
    for (i, s) in series.iter().enumerate() {
        let y = top + 32.0 + i as f64 * 22.0;
        let _ = writeln!(
            d.out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"6\" fill=\"{}\"/>",
            lx + 6.0,
            y - 4.0,
            PALETTE[i % PALETTE.len()]
        );
        d.text(lx + 18.0, y, 13.0, "start", s, "");
    }
    let y = top + 40.0 + series.len() as f64 * 22.0;
    d.line(
        lx,
        y,
        lx + 14.0,
        y,
        "stroke=\"#444\" stroke-dasharray=\"5,4\"",
    );
    d.text(lx + 18.0, y + 4.0, 13.0, "start", "Pareto front", "");
    d.finish()
}

/// One bar group (a category) with one value per series (`None`: no bar).
#[derive(Clone, Debug)]
pub struct Group {
    pub label: String,
    pub values: Vec<Option<f64>>,
}

/// Horizontal grouped bar chart, one row per group; `reference` draws a vertical line (e.g. 1.0
/// for speed-ups). Values are printed at the bar ends with `fmt`; a missing value prints
/// `missing` (or nothing).
pub fn bars(
    title: &str,
    x_label: &str,
    series: &[String],
    groups: &[Group],
    reference: Option<f64>,
    fmt: &dyn Fn(f64) -> String,
    missing: Option<&str>,
) -> String {
    let label_w = groups
        .iter()
        .map(|g| text_width(&g.label, 12.0))
        .fold(0.0, f64::max)
        + 20.0;
    let bar_h = 12.0;
    let group_h = bar_h * series.len().max(1) as f64 + 10.0;
    let legend_h = if series.len() > 1 { 30.0 } else { 0.0 };
    let (left, right, top, bottom) = (label_w, 90.0, 50.0 + legend_h, 60.0);
    let ph = group_h * groups.len() as f64;
    let (w, h) = (980.0, top + ph + bottom);
    let pw = w - left - right;
    let mut d = Doc::new(w, h, title);
    let max = groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().copied())
        .chain(reference)
        .fold(0.0, f64::max)
        .max(1e-9);
    let tk = ticks(0.0, max * 1.05, 6);
    let x1 = tk.last().copied().unwrap_or(max).max(max);
    let sx = |x: f64| left + x / x1 * pw;
    for t in &tk {
        let x = sx(*t);
        d.line(x, top, x, top + ph, "stroke=\"#e5e5e5\"");
        d.text(x, top + ph + 18.0, 12.0, "middle", &fmt_tick(*t), "");
    }
    for (gi, g) in groups.iter().enumerate() {
        let gy = top + gi as f64 * group_h + 5.0;
        d.text(left - 10.0, gy + group_h / 2.0, 12.0, "end", &g.label, "");
        for (si, v) in g.values.iter().enumerate() {
            let y = gy + si as f64 * bar_h;
            match v {
                Some(v) => {
                    let _ = writeln!(
                        d.out,
                        "<rect x=\"{left:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                        (sx(*v) - left).max(0.5),
                        bar_h - 2.0,
                        PALETTE[si % PALETTE.len()]
                    );
                    d.text(
                        sx(*v) + 4.0,
                        y + bar_h - 3.0,
                        10.0,
                        "start",
                        &fmt(*v),
                        "fill=\"#333\"",
                    );
                }
                None => {
                    if let Some(m) = missing {
                        d.text(
                            left + 4.0,
                            y + bar_h - 3.0,
                            10.0,
                            "start",
                            m,
                            "fill=\"#999\"",
                        );
                    }
                }
            }
        }
    }
    if let Some(r) = reference {
        let x = sx(r);
        d.line(
            x,
            top - 4.0,
            x,
            top + ph,
            "stroke=\"#444\" stroke-dasharray=\"4,3\"",
        );
    }
    d.line(left, top + ph, left + pw, top + ph, "stroke=\"black\"");
    d.line(left, top, left, top + ph, "stroke=\"black\"");
    d.text(left + pw / 2.0, h - 18.0, 14.0, "middle", x_label, "");
    if series.len() > 1 {
        let mut x = left;
        for (i, s) in series.iter().enumerate() {
            let _ = writeln!(
                d.out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"12\" fill=\"{}\"/>",
                top - legend_h - 2.0,
                PALETTE[i % PALETTE.len()]
            );
            d.text(x + 20.0, top - legend_h + 9.0, 13.0, "start", s, "");
            x += 40.0 + text_width(s, 13.0);
        }
    }
    d.finish()
}

/// One series of a [`lines`] chart: its name and `(x, y, label)` points in x order.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64, String)>,
}

/// A line chart on linear axes (each series joined in x order, points marked); the `label`s
/// of the `marked` lowest points of the first series are written beside them.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    marked: usize,
) -> String {
    let (w, left, right, bottom) = (980.0, 70.0, 30.0, 60.0);
    // Legend entries flow left to right, wrapping at the chart's width.
    let mut legend = Vec::new();
    let (mut lx, mut row) = (left, 0usize);
    for s in series {
        let width = 40.0 + text_width(&s.name, 13.0);
        if lx + width > w - right && lx > left {
            (lx, row) = (left, row + 1);
        }
        legend.push((lx, row));
        lx += width;
    }
    let top = 52.0 + 20.0 * (row + 1) as f64;
    let h = top + 380.0 + bottom;
    let (pw, ph) = (w - left - right, h - top - bottom);
    let mut d = Doc::new(w, h, title);
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (y0, y1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    if !x0.is_finite() {
        d.text(w / 2.0, h / 2.0, 14.0, "middle", "no data", "");
        return d.finish();
    }
    let (x1, y0) = (x1.max(x0 + 1.0), y0.min(0.0));
    let ty = ticks(y0, y1.max(y0 + 1.0), 6);
    let ytop = ty.last().copied().unwrap_or(y1).max(y1);
    let tx = ticks(x0, x1, 10);
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| top + ph - (y - y0) / (ytop - y0) * ph;
    for t in ty.iter().filter(|t| **t >= y0) {
        let y = sy(*t);
        d.line(left, y, left + pw, y, "stroke=\"#e5e5e5\"");
        d.text(left - 8.0, y + 4.0, 12.0, "end", &fmt_tick(*t), "");
    }
    for t in tx.iter().filter(|t| **t >= x0 && **t <= x1) {
        d.text(sx(*t), top + ph + 18.0, 12.0, "middle", &fmt_tick(*t), "");
    }
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.0), sy(p.1)))
            .collect();
        let _ = writeln!(
            d.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
            path.join(" ")
        );
        for p in &s.points {
            let _ = writeln!(
                d.out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}: {:.1}</title></circle>",
                sx(p.0),
                sy(p.1),
                esc(&p.2),
                p.1
            );
        }
    }
    if let Some(first) = series.first() {
        let mut low: Vec<&(f64, f64, String)> = first.points.iter().collect();
        low.sort_by(|a, b| a.1.total_cmp(&b.1));
        for p in low.into_iter().take(marked) {
            d.text(
                sx(p.0) + 6.0,
                sy(p.1) + 14.0,
                10.0,
                "start",
                &p.2,
                "fill=\"#333\"",
            );
        }
    }
    d.line(left, top + ph, left + pw, top + ph, "stroke=\"black\"");
    d.line(left, top, left, top + ph, "stroke=\"black\"");
    d.text(left + pw / 2.0, h - 18.0, 14.0, "middle", x_label, "");
    d.text(
        18.0,
        top + ph / 2.0,
        14.0,
        "middle",
        y_label,
        &format!("transform=\"rotate(-90 18 {:.1})\"", top + ph / 2.0),
    );
    for (i, (s, (x, row))) in series.iter().zip(legend).enumerate() {
        let y = 44.0 + 20.0 * row as f64;
        let _ = writeln!(
            d.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"14\" height=\"12\" fill=\"{}\"/>",
            PALETTE[i % PALETTE.len()]
        );
        d.text(x + 20.0, y + 11.0, 13.0, "start", &s.name, "");
    }
    d.finish()
}

/// Indices of the points on the Pareto front: no other point is both at least as fast and at
/// least as accurate, and strictly better in one.
pub fn pareto_front(points: &[Point]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            let p = &points[i];
            p.x > 0.0
                && !points
                    .iter()
                    .any(|q| q.x > 0.0 && q.x <= p.x && q.y >= p.y && (q.x < p.x || q.y > p.y))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            series: 0,
            label: format!("{x},{y}"),
        }
    }

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        let p = [
            pt(1.0, 90.0),
            pt(2.0, 92.0),
            pt(3.0, 91.0),
            pt(0.5, 80.0),
            pt(2.0, 92.0),
        ];
        // (3, 91) is dominated by (2, 92); the two equal points are both kept.
        assert_eq!(pareto_front(&p), vec![0, 1, 3, 4]);
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(
            log_ticks(0.1, 10.0),
            vec![0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
        );
    }

    #[test]
    fn charts_are_well_formed_and_escape_labels() {
        let s = scatter(
            "t",
            "x",
            "y",
            &["a".into()],
            &[
                pt(1.0, 90.0),
                Point {
                    label: "<b>".into(),
                    ..pt(2.0, 91.0)
                },
            ],
            &[0, 1],
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("&lt;b&gt;") && !s.contains("<b>"));
        let b = bars(
            "t",
            "x",
            &["s1".into(), "s2".into()],
            &[Group {
                label: "g".into(),
                values: vec![Some(2.0), None],
            }],
            Some(1.0),
            &|v| format!("{v:.1}x"),
            Some("n/a"),
        );
        assert!(b.contains("2.0x") && b.contains("n/a"));
    }
}

//! Small inline SVG charts for the release report: a vertical bar chart
//! (class sizes, rows per month or partition) and a one-line rate bar.
//!
//! Hand-written rather than drawn with a plotting crate: the page needs two
//! chart shapes, and text-based SVG keeps them crisp at any zoom, selectable,
//! printable and a few hundred bytes each. Every label is XML-escaped here.

use std::fmt::Write as _;

/// One bar: its label (shown under the axis), its value, and whether it is
/// drawn in the warning colour.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Axis label (already a release value or a range, never raw data).
    pub label: String,
    /// Height.
    pub value: u64,
    /// Drawn in the warning colour (e.g. a month with no rows).
    pub warn: bool,
}

/// Escape text for SVG/XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Thousands separators for axis labels.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A "nice" axis maximum at or above `max` (1, 2 or 5 times a power of ten).
fn nice_ceiling(max: u64) -> u64 {
    if max <= 1 {
        return 1;
    }
    let mut p = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let v = p.saturating_mul(m);
            if v >= max {
                return v;
            }
        }
        if p > u64::MAX / 10 {
            return max;
        }
        p *= 10;
    }
}

/// A vertical bar chart, `title` as its accessible name. Scales to its
/// container's width (viewBox); at most ~24 axis labels are drawn.
pub fn bar_chart(title: &str, bars: &[Bar], y_label: &str) -> String {
    const W: f64 = 720.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 58.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max = nice_ceiling(bars.iter().map(|b| b.value).max().unwrap_or(0));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    // Grid lines and y labels at 0, 1/2 and the maximum.
    for frac in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - frac);
        let v = (max as f64 * frac).round() as u64;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}"/><text class="yl" x="{xl:.1}" y="{yt:.1}">{v}</text>"#,
            x2 = W - RIGHT,
            xl = LEFT - 6.0,
            yt = y + 4.0,
            v = group(v)
        );
    }
    let _ = write!(
        s,
        r#"<text class="axis" x="12" y="{y:.1}" transform="rotate(-90 12 {y:.1})">{}</text>"#,
        escape(y_label),
        y = TOP + plot_h / 2.0
    );
    let n = bars.len().max(1) as f64;
    let slot = plot_w / n;
    let gap = if slot > 6.0 { slot * 0.18 } else { 0.0 };
    let every = bars.len().div_ceil(24).max(1);
    for (i, b) in bars.iter().enumerate() {
        let h = if max == 0 {
            0.0
        } else {
            plot_h * b.value as f64 / max as f64
        };
        let x = LEFT + slot * i as f64 + gap / 2.0;
        let y = TOP + plot_h - h;
        let _ = write!(
            s,
            r#"<rect class="{c}" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}"><title>{l}: {v}</title></rect>"#,
            c = if b.warn { "bar warn" } else { "bar" },
            w = (slot - gap).max(0.5),
            l = escape(&b.label),
            v = group(b.value)
        );
        if b.warn && b.value == 0 {
            // An empty bar is still visible: a short mark on the axis.
            let _ = write!(
                s,
                r#"<rect class="bar warn" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="3"/>"#,
                y = TOP + plot_h - 3.0,
                w = (slot - gap).max(0.5)
            );
        }
        if i % every == 0 {
            let cx = LEFT + slot * (i as f64 + 0.5);
            let ty = TOP + plot_h + 12.0;
            let _ = write!(
                s,
                r#"<text class="xl" x="{cx:.1}" y="{ty:.1}" transform="rotate(-40 {cx:.1} {ty:.1})">{}</text>"#,
                escape(&b.label)
            );
        }
    }
    let _ = write!(
        s,
        r#"<line class="base" x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}"/></svg>"#,
        y = TOP + plot_h,
        x2 = W - RIGHT
    );
    s
}

/// A small horizontal bar showing a share in 0..=1 (null or invalid rate).
pub fn rate_bar(share: f64, warn: bool) -> String {
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Any non-zero share gets at least a visible sliver.
    let w = if share > 0.0 {
        (share * 100.0).max(1.5)
    } else {
        0.0
    };
    format!(
        r#"<svg class="rate" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{p:.2}%" xmlns="http://www.w3.org/2000/svg"><rect class="track" x="0" y="0" width="100" height="8"/><rect class="{c}" x="0" y="0" width="{w:.2}" height="8"/></svg>"#,
        p = share * 100.0,
        c = if warn { "fill warn" } else { "fill" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_drawn() {
        let bars = vec![
            Bar {
                label: "<a&b>".into(),
                value: 3,
                warn: false,
            },
            Bar {
                label: "2007-06".into(),
                value: 0,
                warn: true,
            },
        ];
        let svg = bar_chart("t\"", &bars, "rows");
        assert!(svg.contains("&lt;a&amp;b&gt;"));
        assert!(!svg.contains("<a&b>"));
        assert!(svg.contains("t&quot;"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 1);
        assert_eq!(svg.matches("class=\"bar warn\"").count(), 2);
        assert!(roxmltree::Document::parse(&svg).is_ok());
    }

    #[test]
    fn axis_and_numbers() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(4000), 5000);
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
        assert!(rate_bar(0.25, false).contains("width=\"25.00\""));
        assert!(rate_bar(f64::NAN, false).contains("width=\"0.00\""));
    }
}

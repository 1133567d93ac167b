//! The `/stats` page: the key figures and four charts, drawn here as
//! inline SVG. Pure: figures in, HTML out. No script, nothing fetched;
//! every text that comes from the database goes through [`Escaped`].

use super::store::Bucket;
use crate::share_page::Escaped;
use bevy_p2p_protocol::{LATENCY_TARGET_MS, SUCCESS_TARGET, Stats, Target};
use std::fmt::Write;

/// Buckets a chart has at most.
const MAX_BUCKETS: u64 = 48;

/// The time the page covers, in buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The whole window, seconds.
    pub(crate) span_secs: u64,
    /// The first bucket's start, unix ms.
    pub(crate) from: i64,
    pub(crate) bucket_ms: i64,
    pub(crate) buckets: usize,
}

impl Window {
    /// The last `hours` hours up to `now` (unix ms), in hourly buckets, or
    /// [`MAX_BUCKETS`] longer ones.
    pub(crate) fn hours(hours: u64, now: i64) -> Self {
        let hours = hours.max(1);
        Self::new(hours * 3600, hours.min(MAX_BUCKETS), now)
    }

    /// The last `minutes` minutes, in buckets of 5 s or more (a short
    /// scripted run, a fresh server).
    pub(crate) fn minutes(minutes: u64, now: i64) -> Self {
        let minutes = minutes.max(1);
        Self::new(minutes * 60, (minutes * 12).min(MAX_BUCKETS), now)
    }

    fn new(span_secs: u64, buckets: u64, now: i64) -> Self {
        let bucket_ms = i64::try_from(span_secs * 1000 / buckets).unwrap_or(3_600_000);
        // Buckets end with the current one: its end is past `now`.
        let end = (now.div_euclid(bucket_ms) + 1) * bucket_ms;
        Self {
            span_secs,
            from: end - bucket_ms * buckets as i64,
            bucket_ms,
            buckets: buckets as usize,
        }
    }
}

/// A duration as the page writes it: `2h`, `1.5h`, `15min`, `5s`.
fn span(ms: f64) -> String {
    if ms >= 3_600_000.0 {
        format!("{}h", trim(ms / 3_600_000.0))
    } else if ms >= 60_000.0 {
        format!("{}min", trim(ms / 60_000.0))
    } else {
        format!("{}s", trim(ms / 1000.0))
    }
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
main{max-width:720px;margin:0 auto;padding:24px 16px}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\
p.note{color:#5b6475;margin:0 0 16px}\
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px}\
td,th{padding:7px 12px;border-bottom:1px solid #e6e8ee;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.met{color:#137333;font-weight:600}.missed{color:#b3261e;font-weight:600}.none{color:#5b6475}\
svg{background:#fff;border-radius:8px;width:100%;height:auto}\
svg text{font:11px system-ui,sans-serif;fill:#5b6475}";

/// The page for `stats` (over the window) and `buckets`.
pub(crate) fn render(stats: &Stats, buckets: &[Bucket], window: &Window) -> String {
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Multiplayer stats</title><style>{STYLE}</style></head><body><main>\
         <h1>Multiplayer stats</h1><p class=\"note\">The last {}, in buckets of {}. \
         Figures: <code>GET /api/stats?since={}</code>.</p>",
        span(window.span_secs as f64 * 1000.0),
        span(window.bucket_ms as f64),
        window.span_secs
    );
    summary(&mut html, stats);
    html.push_str("<h2>Connection success rate</h2>");
    line_chart(
        &mut html,
        window,
        buckets,
        |b| (b.ended > 0).then(|| b.connected as f64 / b.ended as f64 * 100.0),
        (100.0, "%"),
        (SUCCESS_TARGET * 100.0, "target 95 %"),
        "Share of admitted joins that connected, per bucket",
    );
    html.push_str("<h2>Latency</h2>");
    let top = buckets
        .iter()
        .filter_map(|b| b.latency_ms)
        .fold(LATENCY_TARGET_MS * 1.5, f64::max);
    line_chart(
        &mut html,
        window,
        buckets,
        |b| b.latency_ms,
        (nice_ceiling(top), " ms"),
        (LATENCY_TARGET_MS, "target 100 ms"),
        "Mean of the sessions' average round-trip times, per bucket",
    );
    let _ = write!(
        html,
        "<h2>Rooms opened per {}</h2>",
        if window.bucket_ms == 3_600_000 {
            "hour".to_owned()
        } else {
            span(window.bucket_ms as f64)
        }
    );
    bar_chart(&mut html, window, buckets);
    html.push_str("<h2>Failure reasons</h2>");
    failures(&mut html, stats);
    html.push_str("</main></body></html>\n");
    html
}

/// `12.5` as `12.5`, `3.0` as `3`.
fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_owned()
}

/// A round number at least `value`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|nice| *nice >= value)
        .unwrap_or(10.0 * power)
}

fn summary(html: &mut String, stats: &Stats) {
    let rate =
        |value: Option<f64>| value.map_or("no data".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let ms = |value: Option<f64>| value.map_or("no data".to_owned(), |v| format!("{v:.1} ms"));
    let verdict = |target: &Target| match target.met {
        Some(true) => "<span class=\"met\">met</span>",
        Some(false) => "<span class=\"missed\">missed</span>",
        None => "<span class=\"none\">no data</span>",
    };
    html.push_str("<table>");
    let mut row = |name: &str, value: String, note: &str| {
        let _ = write!(
            html,
            "<tr><th>{}</th><td class=\"num\">{}</td><td>{note}</td></tr>",
            Escaped(name),
            Escaped(&value)
        );
    };
    row(
        "Connection success",
        rate(stats.connection_success_rate),
        &format!(
            "target above 95 %: {}",
            verdict(&stats.targets.connection_success)
        ),
    );
    row(
        "Average latency",
        ms(stats.average_latency_ms),
        &format!(
            "target below 100 ms: {}",
            verdict(&stats.targets.average_latency)
        ),
    );
    row("95th percentile latency", ms(stats.p95_latency_ms), "");
    row(
        "Rooms created / joined",
        format!("{} / {}", stats.rooms_created, stats.rooms_joined),
        "",
    );
    row(
        "Join attempts / connected",
        format!("{} / {}", stats.join_attempts, stats.connected),
        "",
    );
    row(
        "Host disconnects per session",
        stats
            .host_disconnect_rate
            .map_or("no data".to_owned(), |rate| format!("{rate:.2}")),
        &format!(
            "{} disconnects, {} sessions, {} session reports",
            stats.host_disconnects, stats.sessions, stats.session_reports
        ),
    );
    html.push_str("</table>");
}

/// The x of bucket `i`'s middle.
fn x_of(i: usize, n: usize) -> f64 {
    let span = WIDTH - LEFT - RIGHT;
    LEFT + span * (i as f64 + 0.5) / n.max(1) as f64
}

/// The y of `value` on a 0..`top` axis.
fn y_of(value: f64, top: f64) -> f64 {
    let span = HEIGHT - TOP - BOTTOM;
    TOP + span * (1.0 - (value / top).clamp(0.0, 1.0))
}

/// The frame: y grid with labels at 0, half and `top`, x labels every few
/// buckets (hours before now).
fn axes(html: &mut String, window: &Window, (top, unit): (f64, &str)) {
    for fraction in [0.0, 0.5, 1.0] {
        let value = top * fraction;
        let y = y_of(value, top);
        let _ = write!(
            html,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e6e8ee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            trim(value),
            Escaped(unit)
        );
    }
    let n = window.buckets;
    let step = (n / 6).max(1);
    for i in (0..n).step_by(step) {
        let ago = (n - i) as f64 * window.bucket_ms as f64;
        let _ = write!(
            html,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">-{}</text>",
            x_of(i, n),
            HEIGHT - BOTTOM + 16.0,
            span(ago)
        );
    }
}

fn target_line(html: &mut String, value: f64, top: f64, label: &str) {
    let y = y_of(value, top);
    // Above the line, or below it when the line runs along the top.
    let label_y = if y - 5.0 < TOP + 12.0 {
        y + 14.0
    } else {
        y - 5.0
    };
    let _ = write!(
        html,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b3261e\" \
         stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" \
         style=\"fill:#b3261e\">{}</text>",
        WIDTH - RIGHT,
        WIDTH - RIGHT - 4.0,
        label_y,
        Escaped(label)
    );
}

fn svg_open(html: &mut String, title: &str) {
    let _ = write!(
        html,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{0}\"><title>{0}</title>",
        Escaped(title)
    );
}

fn empty_note(html: &mut String) {
    let _ = write!(
        html,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no data in this window</text>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0
    );
}

/// Points joined where consecutive buckets both have a value.
fn line_chart(
    html: &mut String,
    window: &Window,
    buckets: &[Bucket],
    value: impl Fn(&Bucket) -> Option<f64>,
    (top, unit): (f64, &str),
    (target, target_label): (f64, &str),
    title: &str,
) {
    svg_open(html, title);
    axes(html, window, (top, unit));
    target_line(html, target, top, target_label);
    let n = buckets.len();
    let points: Vec<Option<(f64, f64)>> = buckets
        .iter()
        .enumerate()
        .map(|(i, bucket)| value(bucket).map(|v| (x_of(i, n), y_of(v, top))))
        .collect();
    for pair in points.windows(2) {
        if let [Some((x1, y1)), Some((x2, y2))] = pair {
            let _ = write!(
                html,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" \
                 stroke=\"#1a73e8\" stroke-width=\"2\"/>"
            );
        }
    }
    for (x, y) in points.iter().flatten() {
        let _ = write!(
            html,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"#1a73e8\"/>"
        );
    }
    if points.iter().all(Option::is_none) {
        empty_note(html);
    }
    html.push_str("</svg>");
}

fn bar_chart(html: &mut String, window: &Window, buckets: &[Bucket]) {
    let most = buckets.iter().map(|b| b.rooms_created).max().unwrap_or(0);
    let top = nice_ceiling(most.max(1) as f64);
    svg_open(html, "Rooms opened per bucket");
    axes(html, window, (top, ""));
    let n = buckets.len().max(1);
    let width = (WIDTH - LEFT - RIGHT) / n as f64 * 0.7;
    for (i, bucket) in buckets.iter().enumerate() {
        if bucket.rooms_created == 0 {
            continue;
        }
        let y = y_of(bucket.rooms_created as f64, top);
        let _ = write!(
            html,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"#1a73e8\">\
             <title>{}</title></rect>",
            x_of(i, n) - width / 2.0,
            HEIGHT - BOTTOM - y,
            bucket.rooms_created
        );
    }
    if most == 0 {
        empty_note(html);
    }
    html.push_str("</svg>");
}

/// Horizontal bars, one per reason, most first.
fn failures(html: &mut String, stats: &Stats) {
    let mut reasons: Vec<(&String, &u64)> = stats.failures.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let row = 26.0;
    let height = (reasons.len().max(1) as f64) * row + 16.0;
    let _ = write!(
        html,
        "<svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Failed joins by reason\">\
         <title>Failed joins by reason</title>"
    );
    let most = reasons.first().map_or(1, |(_, n)| **n).max(1);
    let label_width = 150.0;
    let span = WIDTH - label_width - RIGHT - 48.0;
    for (i, (reason, count)) in reasons.iter().enumerate() {
        let y = 8.0 + i as f64 * row;
        let width = span * **count as f64 / most as f64;
        let _ = write!(
            html,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_width}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"18\" fill=\"#e37400\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{count}</text>",
            label_width - 8.0,
            y + 13.0,
            Escaped(reason),
            label_width + width + 6.0,
            y + 13.0,
        );
    }
    if reasons.is_empty() {
        let _ = write!(
            html,
            "<text x=\"{:.1}\" y=\"26\" text-anchor=\"middle\">no failed joins in this window</text>",
            WIDTH / 2.0
        );
    }
    html.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_with_the_current_bucket() {
        let now = 10 * 3_600_000 + 1_234;
        let day = Window::hours(24, now);
        assert_eq!((day.buckets, day.bucket_ms), (24, 3_600_000));
        assert_eq!(day.from + day.bucket_ms * 24, 11 * 3_600_000);
        let week = Window::hours(168, now);
        assert_eq!(
            (week.buckets, week.bucket_ms),
            (48, 3 * 3_600_000 + 1_800_000)
        );
        assert!(week.from <= now - 168 * 3_600_000 + week.bucket_ms);
        let minute = Window::minutes(1, now);
        assert_eq!((minute.buckets, minute.bucket_ms), (12, 5_000));
        assert_eq!(span(5_000.0), "5s");
        assert_eq!(span(90_000.0), "1.5min");
        assert_eq!(span(10_800_000.0), "3h");
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceiling(150.0), 200.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
        assert_eq!(trim(2.0), "2");
        assert_eq!(trim(3.5), "3.5");
    }

    #[test]
    fn the_page_draws_its_figures_and_escapes_reasons() {
        let window = Window::hours(3, 3 * 3_600_000);
        let buckets = vec![
            Bucket {
                start: 0,
                rooms_created: 4,
                ended: 10,
                connected: 9,
                latency_ms: Some(42.0),
            },
            Bucket::default(),
            Bucket {
                start: 0,
                rooms_created: 1,
                ended: 2,
                connected: 2,
                latency_ms: None,
            },
        ];
        let mut stats = Stats {
            connection_success_rate: Some(11.0 / 12.0),
            ..Stats::default()
        };
        stats.targets.connection_success.met = Some(false);
        stats.failures.insert("<script>alert(1)</script>".into(), 3);
        stats.failures.insert("no_report".into(), 1);
        let html = render(&stats, &buckets, &window);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("91.7 %"));
        assert!(html.contains("class=\"missed\""));
        assert!(html.contains("target 95 %") && html.contains("target 100 ms"));
        // Success points in buckets 0 and 2 only (none for the empty one),
        // not joined across the gap; one latency point.
        assert_eq!(html.matches("<circle").count(), 3);
        assert_eq!(html.matches("stroke-width=\"2\"").count(), 0);
        // Two bars of rooms, two of failures.
        assert_eq!(html.matches("fill=\"#1a73e8\"><title>").count(), 2);
        assert_eq!(html.matches("fill=\"#e37400\"").count(), 2);
        // No data is said, never drawn as 100 %.
        let empty = render(
            &Stats::default(),
            &[Bucket::default()],
            &Window::hours(1, 0),
        );
        assert!(empty.contains("no data in this window"));
        assert!(!empty.contains("<circle"));
        assert!(empty.contains("<span class=\"none\">no data</span>"));
    }
}

//! The program's progress line: what an operator needs at a glance, taken from the same
//! metrics that `/metrics` exports (the Prometheus recorder's rendering), so the two never
//! disagree.
//!
//! `progress in=172000/s out=181000/s lag=eventos_sensores/0:1200,eventos_sensores/1:0
//! windows=400 late=0 skipped=3 commit_ms=avg:4.1,p99:12.0 tasks=8`

use std::collections::BTreeMap;
use std::time::Instant;

use kstreams::http::PrometheusHandle;

/// Metric totals of one rendering: each counter summed over its labels; lags by
/// `topic/partition`.
#[derive(Debug, Default, Clone, PartialEq)]
struct Totals {
    consumed: f64,
    produced: f64,
    windows: f64,
    late: f64,
    skipped: f64,
    commit_sum: f64,
    commit_count: f64,
    commit_p99: f64,
    lag: BTreeMap<String, f64>,
}

/// The value of `name="value"` in a Prometheus label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

fn totals(text: &str) -> Totals {
    let mut t = Totals::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        match name {
            "kstreams_records_consumed_total" => t.consumed += value,
            "kstreams_records_produced_total" => t.produced += value,
            "temperature_windows_emitted_total" => t.windows += value,
            "kstreams_late_records_dropped_total" => t.late += value,
            "kstreams_deserialization_errors_total"
            | "kstreams_processing_errors_total"
            | "kstreams_invalid_timestamps_total"
            | "kstreams_production_errors_total" => t.skipped += value,
            "kstreams_commit_latency_seconds_sum" => t.commit_sum += value,
            "kstreams_commit_latency_seconds_count" => t.commit_count += value,
            "kstreams_commit_latency_seconds" if label(labels, "quantile") == Some("0.99") => {
                t.commit_p99 = t.commit_p99.max(value);
            }
            "kstreams_consumer_lag" => {
                if let (Some(topic), Some(partition)) = (label(labels, "topic"), label(labels, "partition")) {
                    *t.lag.entry(format!("{topic}/{partition}")).or_default() += value;
                }
            }
            _ => {}
        }
    }
    t
}

/// Builds progress lines from successive renderings of the metrics.
pub struct Progress {
    handle: PrometheusHandle,
    last: Totals,
    at: Instant,
}

impl Progress {
    /// Starts counting from now.
    pub fn new(handle: PrometheusHandle) -> Self {
        let last = totals(&handle.render());
        Self { handle, last, at: Instant::now() }
    }

    /// The line for the time since the previous one.
    pub fn line(&mut self, tasks: usize) -> String {
        self.handle.run_upkeep();
        let now = totals(&self.handle.render());
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let line = describe(&self.last, &now, secs, tasks);
        self.last = now;
        self.at = Instant::now();
        line
    }
}

fn describe(before: &Totals, now: &Totals, secs: f64, tasks: usize) -> String {
    let rate = |a: f64, b: f64| ((b - a).max(0.0) / secs).round();
    let lag = if now.lag.is_empty() {
        "-".to_string()
    } else {
        now.lag.iter().map(|(tp, l)| format!("{tp}:{l}")).collect::<Vec<_>>().join(",")
    };
    let commits = now.commit_count - before.commit_count;
    let commit = if commits > 0.0 {
        format!(
            "avg:{:.1},p99:{:.1}",
            1000.0 * (now.commit_sum - before.commit_sum) / commits,
            1000.0 * now.commit_p99
        )
    } else {
        "-".to_string()
    };
    format!(
        "progress in={}/s out={}/s lag={lag} windows={} late={} skipped={} commit_ms={commit} tasks={tasks}",
        rate(before.consumed, now.consumed),
        rate(before.produced, now.produced),
        now.windows,
        now.late,
        now.skipped,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# TYPE kstreams_records_consumed_total counter
kstreams_records_consumed_total{thread=\"t-1\"} 1000
kstreams_records_consumed_total{thread=\"t-2\"} 500
kstreams_records_produced_total{thread=\"t-1\"} 100
kstreams_commit_latency_seconds{thread=\"t-1\",quantile=\"0.99\"} 0.004
kstreams_commit_latency_seconds_sum{thread=\"t-1\"} 0.010
kstreams_commit_latency_seconds_count{thread=\"t-1\"} 5
";

    const NOW: &str = "\
kstreams_records_consumed_total{thread=\"t-1\"} 21000
kstreams_records_consumed_total{thread=\"t-2\"} 10500
kstreams_records_produced_total{thread=\"t-1\"} 20100
temperature_windows_emitted_total 40
kstreams_late_records_dropped_total{task=\"1_0\",processor=\"agg\"} 2
kstreams_deserialization_errors_total{task=\"0_1\",topic=\"eventos_sensores\"} 3
kstreams_commit_latency_seconds{thread=\"t-1\",quantile=\"0.99\"} 0.012
kstreams_commit_latency_seconds{thread=\"t-1\",quantile=\"0.5\"} 0.002
kstreams_commit_latency_seconds_sum{thread=\"t-1\"} 0.050
kstreams_commit_latency_seconds_count{thread=\"t-1\"} 15
kstreams_consumer_lag{thread=\"t-1\",topic=\"eventos_sensores\",partition=\"0\"} 1200
kstreams_consumer_lag{thread=\"t-2\",topic=\"eventos_sensores\",partition=\"1\"} 0
";

    #[test]
    fn the_line_shows_rates_lag_drops_and_commit_latency() {
        let line = describe(&totals(BEFORE), &totals(NOW), 10.0, 6);
        assert_eq!(
            line,
            "progress in=3000/s out=2000/s lag=eventos_sensores/0:1200,eventos_sensores/1:0 \
             windows=40 late=2 skipped=3 commit_ms=avg:4.0,p99:12.0 tasks=6"
        );
    }

    #[test]
    fn an_idle_instance_shows_no_commit_figures() {
        let t = totals(BEFORE);
        assert_eq!(
            describe(&t, &t, 10.0, 0),
            "progress in=0/s out=0/s lag=- windows=0 late=0 skipped=0 commit_ms=- tasks=0"
        );
    }
}

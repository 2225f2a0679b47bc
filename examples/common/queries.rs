//! Interactive queries over HTTP: what `temperature_averages --metrics-addr` serves beside
//! `/metrics`, read from the `temperature-stats` window store of this instance.
//!
//! - `GET /sensors/<id>/latest`: the sensor's latest window as JSON (the fields of
//!   [`WindowAverage`]), 404 when it has none.
//! - `GET /sensors/<id>/windows?from=<ms>&to=<ms>`: its windows starting in `[from, to]`
//!   (both optional) as a JSON array, ascending by start.
//!
//! Open windows are included (their current aggregate); windows leave the store once they
//! are older than its retention (`QUERYABLE_FOR`, one hour). An instance answers for the sensors of
//! its own tasks; for another instance's sensor it redirects (307) to that instance, named by
//! its `application.server` (the `--metrics-addr` of each instance), or answers 404 when no
//! instance is known to host the sensor.

use std::sync::Arc;

use kstreams::dsl::stores::WindowStore;
use kstreams::dsl::Stats;
use kstreams::http::{Handler, Request, Response};
use kstreams::prelude::*;
use kstreams::runtime::StoreQueries;

use super::WindowAverage;

/// The window store of [`super::temperature_averages`].
pub const STATS_STORE: &str = "temperature-stats";

/// The typed store the queries read: sensor id → stats per window.
type StatsStore = WindowStore<u32, Stats>;

/// A handler answering `/sensors/...` from `queries` (windows of `window_ms`) and passing
/// every other path to `fallback` (e.g. [`kstreams::http::metrics_handler`]).
pub fn queries_handler(queries: StoreQueries, window_ms: i64, fallback: Handler) -> Handler {
    Arc::new(move |req: &Request| match req.path.strip_prefix("/sensors/") {
        Some(rest) => answer(&queries, window_ms, rest, &req.query),
        None => fallback(req),
    })
}

/// What a request under `/sensors/` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorQuery {
    /// The latest window of a sensor.
    Latest(u32),
    /// The windows of a sensor starting in `[from, to]`.
    Windows(u32, i64, i64),
}

/// Parses `<id>/latest` or `<id>/windows` with its query string; `Err` is the 400 message,
/// `Ok(None)` an unknown resource.
pub fn parse(rest: &str, query: &str) -> Result<Option<SensorQuery>, String> {
    let Some((id, what)) = rest.split_once('/') else { return Ok(None) };
    if what != "latest" && what != "windows" {
        return Ok(None);
    }
    let id: u32 = id.parse().map_err(|_| format!("sensor id `{id}` is not a non-negative integer"))?;
    if what == "latest" {
        return Ok(Some(SensorQuery::Latest(id)));
    }
    let (mut from, mut to) = (i64::MIN, i64::MAX);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "from" => &mut from,
            "to" => &mut to,
            other => return Err(format!("unknown parameter `{other}` (expected from and to)")),
        };
        *slot = value.parse().map_err(|_| format!("{name}=`{value}` is not epoch milliseconds"))?;
    }
    if from > to {
        return Err(format!("from ({from}) is after to ({to})"));
    }
    Ok(Some(SensorQuery::Windows(id, from, to)))
}

/// The windows of sensor `id` starting in `[from, to]` held by this instance; `None` when the
/// sensor's task is not on this instance.
pub fn sensor_windows(
    queries: &StoreQueries,
    window_ms: i64,
    id: u32,
    from: i64,
    to: i64,
) -> anyhow::Result<Option<Vec<WindowAverage>>> {
    let key = U32Serde.serialize(&id)?;
    let found = queries.query_key::<StatsStore, _>(STATS_STORE, &key, move |store| {
        store.fetch_range(&id, from, to).map_err(|e| e.to_string())
    })?;
    let Some(windows) = found else { return Ok(None) };
    let windows = windows.map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(
        windows
            .into_iter()
            .filter(|(_, s)| s.count > 0)
            .map(|(start, s)| WindowAverage {
                sensor_id: id,
                window_start: start,
                window_end: start + window_ms,
                avg: s.mean(),
                count: s.count,
                min: s.min,
                max: s.max,
            })
            .collect(),
    ))
}

fn answer(queries: &StoreQueries, window_ms: i64, rest: &str, query: &str) -> Response {
    let q = match parse(rest, query) {
        Ok(Some(q)) => q,
        Ok(None) => return Response::not_found(&format!("/sensors/{rest}")),
        Err(message) => return Response::text(400, format!("{message}\n")),
    };
    let (id, from, to) = match q {
        SensorQuery::Latest(id) => (id, i64::MIN, i64::MAX),
        SensorQuery::Windows(id, from, to) => (id, from, to),
    };
    let windows = match sensor_windows(queries, window_ms, id, from, to) {
        Ok(Some(w)) => w,
        Ok(None) => return elsewhere(queries, id, rest, query),
        Err(e) => return Response::text(503, format!("query failed: {e:#}\n")),
    };
    let body = match q {
        SensorQuery::Latest(_) => match windows.last() {
            Some(w) => serde_json::to_vec(w),
            None => return Response::text(404, format!("sensor {id} has no window\n")),
        },
        SensorQuery::Windows(..) => serde_json::to_vec(&windows),
    };
    match body {
        Ok(body) => Response::ok("application/json", body),
        Err(e) => Response::text(500, format!("encoding the answer: {e}\n")),
    }
}

/// The answer for a sensor whose task runs on another instance: a redirect to that instance
/// (by its `application.server`, announced through the application's hosts topic), or a 404
/// when no instance is known to host it (no `application.server`, or a rebalance under way).
fn elsewhere(queries: &StoreQueries, id: u32, rest: &str, query: &str) -> Response {
    let host = U32Serde
        .serialize(&id)
        .ok()
        .and_then(|key| queries.metadata_for_key(STATS_STORE, &key).ok())
        .and_then(|meta| meta.host.filter(|_| !meta.local));
    match host {
        Some(host) => {
            let query = if query.is_empty() { String::new() } else { format!("?{query}") };
            Response::redirect(format!("http://{host}/sensors/{rest}{query}"))
        }
        None => {
            Response::text(404, format!("sensor {id} is not hosted by this instance, nor by any known one\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    #[test]
    fn paths_and_parameters_are_parsed() {
        assert_eq!(parse("7/latest", ""), Ok(Some(SensorQuery::Latest(7))));
        assert_eq!(parse("7/windows", "from=1&to=2"), Ok(Some(SensorQuery::Windows(7, 1, 2))));
        assert_eq!(parse("7/windows", ""), Ok(Some(SensorQuery::Windows(7, i64::MIN, i64::MAX))));
        assert_eq!(parse("7/other", ""), Ok(None));
        assert_eq!(parse("7", ""), Ok(None));
        assert!(parse("x/latest", "").unwrap_err().contains("sensor id"));
        assert!(parse("7/windows", "from=5&to=1").unwrap_err().contains("after"));
        assert!(parse("7/windows", "from=soon").unwrap_err().contains("milliseconds"));
        assert!(parse("7/windows", "limit=3").unwrap_err().contains("unknown"));
    }
}

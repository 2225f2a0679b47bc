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
//! its `application.server` (the `--metrics-addr`, or `--application-server`, of each
//! instance), or answers 404 when no instance is known to host the sensor.

use kstreams::dsl::Stats;
use kstreams::http::axum::extract::{Path, RawQuery};
use kstreams::http::axum::http::header::{CONTENT_TYPE, LOCATION};
use kstreams::http::axum::http::{HeaderValue, StatusCode};
use kstreams::http::axum::response::{IntoResponse, Response};
use kstreams::http::axum::routing::get;
use kstreams::http::axum::Router;
use kstreams::http::blocking;
use kstreams::prelude::*;
use kstreams::runtime::StoreQueries;
use kstreams::state::WindowStore;

use crate::{WindowAverage, STATS_STORE};

/// The typed store the queries read: sensor id → stats per window.
type StatsStore = WindowStore<u32, Stats>;

/// Routes answering `/sensors/<id>/latest` and `/sensors/<id>/windows` from `queries`
/// (windows of `window_ms`). The store queries block, so they run through
/// [`kstreams::http::blocking`]. Merge other routes (e.g. [`kstreams::http::metrics_router`])
/// into it.
pub fn queries_router(queries: StoreQueries, window_ms: i64) -> Router {
    let route = move |what: &'static str| {
        let queries = queries.clone();
        get(move |Path(id): Path<String>, RawQuery(query): RawQuery| {
            let queries = queries.clone();
            let rest = format!("{id}/{what}");
            blocking(move || answer(&queries, window_ms, &rest, query.as_deref().unwrap_or("")))
        })
    };
    Router::new()
        .route("/sensors/{id}/latest", route("latest"))
        .route("/sensors/{id}/windows", route("windows"))
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
    let found = queries.query_key::<StatsStore, _, _>(STATS_STORE, &id, &U32Serde, move |store| {
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

/// A `text/plain` answer.
fn text(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

/// The answer to `/sensors/<rest>?<query>`.
fn answer(queries: &StoreQueries, window_ms: i64, rest: &str, query: &str) -> Response {
    let q = match parse(rest, query) {
        Ok(Some(q)) => q,
        Ok(None) => return text(StatusCode::NOT_FOUND, format!("no such resource: /sensors/{rest}\n")),
        Err(message) => return text(StatusCode::BAD_REQUEST, format!("{message}\n")),
    };
    let (id, from, to) = match q {
        SensorQuery::Latest(id) => (id, i64::MIN, i64::MAX),
        SensorQuery::Windows(id, from, to) => (id, from, to),
    };
    let windows = match sensor_windows(queries, window_ms, id, from, to) {
        Ok(Some(w)) => w,
        Ok(None) => return elsewhere(queries, id, rest, query),
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("query failed: {e:#}\n")),
    };
    let body = match q {
        SensorQuery::Latest(_) => match windows.last() {
            Some(w) => serde_json::to_vec(w),
            None => return text(StatusCode::NOT_FOUND, format!("sensor {id} has no window\n")),
        },
        SensorQuery::Windows(..) => serde_json::to_vec(&windows),
    };
    match body {
        Ok(body) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the answer: {e}\n")),
    }
}

/// The answer for a sensor whose task runs on another instance: a redirect to that instance
/// (by its `application.server`, announced through the application's hosts topic), or a 404
/// when no instance is known to host it (no `application.server`, or a rebalance under way).
fn elsewhere(queries: &StoreQueries, id: u32, rest: &str, query: &str) -> Response {
    let host = queries
        .metadata_for_key(STATS_STORE, &id, &U32Serde)
        .ok()
        .and_then(|meta| meta.host.filter(|_| !meta.local));
    let Some(host) = host else {
        let message = format!("sensor {id} is not hosted by this instance, nor by any known one\n");
        return text(StatusCode::NOT_FOUND, message);
    };
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    let location = format!("http://{host}/sensors/{rest}{query}");
    // The host comes from another instance (through the hosts topic): refuse what is not a
    // header value (line breaks: header injection) instead of passing it on.
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, value)], format!("see {location}\n")).into_response()
        }
        Err(_) => {
            text(StatusCode::BAD_GATEWAY, format!("sensor {id} is hosted at an invalid address: {host:?}\n"))
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

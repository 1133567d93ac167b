//! The HTTP side of the stats: players' reports, `GET /api/stats`, the
//! `/stats` page and `GET /metrics`.

use super::{Telemetry, page, store::Unanswered};
use crate::{
    api::{RequestLimits, error_response, json_body, refusal_response},
    forwarded::ClientAddr,
    hub::{Hub, Refusal},
};
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bevy_p2p_protocol::{
    ErrorCode, JoinReport, SessionReport,
    api::{METRICS, STATS_PAGE},
};
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

/// `POST /api/rooms/{code}/join-report` with a [`JoinReport`].
pub(crate) async fn join_report(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(requests): axum::Extension<RequestLimits>,
    Path(code): Path<String>,
    body: Body,
) -> Response {
    let telemetry = hub.telemetry();
    let report: JoinReport = match json_body(body, requests).await {
        Ok(report) => report,
        Err(refused) => {
            telemetry.count_report("join", false);
            return error_response(refused);
        }
    };
    answer(telemetry.report_join(client, &code, &report))
}

/// `POST /api/rooms/{code}/session-report` with `Authorization: Bearer
/// <host_token>` and a [`SessionReport`].
pub(crate) async fn session_report(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(requests): axum::Extension<RequestLimits>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let telemetry = hub.telemetry();
    let report: SessionReport = match json_body(body, requests).await {
        Ok(report) => report,
        Err(refused) => {
            telemetry.count_report("session", false);
            return error_response(refused);
        }
    };
    let token = crate::api::host_token(&headers);
    answer(telemetry.report_session(client, &code, token, report))
}

fn answer(counted: Result<(), Refusal>) -> Response {
    match counted {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal_response(refusal),
    }
}

/// The refusal for a question the database could not take.
fn unanswered(why: Unanswered) -> Response {
    match why {
        Unanswered::Busy => refusal_response(Refusal {
            code: ErrorCode::RateLimited,
            retry_after: Some(Duration::from_secs(1)),
        }),
        Unanswered::Failed => error_response(ErrorCode::Internal),
    }
}

/// A whole number from the query, if `name` is given.
fn query_number(query: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ErrorCode> {
    query
        .get(name)
        .map(|raw| raw.trim().parse::<u64>().map_err(|_| ErrorCode::BadRequest))
        .transpose()
}

/// `GET /api/stats`, `?since=<seconds>`.
pub(crate) async fn stats(
    State(hub): State<Hub>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let since = match query_number(&query, "since") {
        Ok(since) => since,
        Err(code) => return error_response(code),
    };
    match hub.telemetry().store().stats(since).await {
        Ok(stats) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(stats)).into_response(),
        Err(why) => unanswered(why),
    }
}

/// Hours the stats page shows at most (`?hours=`): the retention's default.
const MAX_PAGE_HOURS: u64 = 30 * 24;

/// `GET /stats`, `?hours=<N>` (default 24) or `?minutes=<N>`: the page
/// of charts.
async fn stats_page(
    State(telemetry): State<Telemetry>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = super::store::unix_ms();
    let window = match (
        query_number(&query, "hours"),
        query_number(&query, "minutes"),
    ) {
        (Ok(None), Ok(Some(minutes))) => {
            page::Window::minutes(minutes.clamp(1, MAX_PAGE_HOURS * 60), now)
        }
        (Ok(hours), Ok(None)) => {
            page::Window::hours(hours.unwrap_or(24).clamp(1, MAX_PAGE_HOURS), now)
        }
        _ => return error_response(ErrorCode::BadRequest),
    };
    let store = telemetry.store();
    let stats = store.stats(Some(window.span_secs)).await;
    let buckets = store
        .series(window.from, window.bucket_ms, window.buckets)
        .await;
    match (stats, buckets) {
        (Ok(stats), Ok(buckets)) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                // Inline styles only: nothing runs, nothing is fetched.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            page::render(&stats, &buckets, &window),
        )
            .into_response(),
        (Err(why), _) | (_, Err(why)) => unanswered(why),
    }
}

/// The `/stats` page's route.
pub(crate) fn page_routes(telemetry: Telemetry) -> Router {
    Router::new()
        .route(STATS_PAGE, get(stats_page))
        .with_state(telemetry)
}

/// Who may read `GET /metrics`.
#[derive(Clone)]
pub(crate) struct MetricsAccess {
    telemetry: Telemetry,
    /// Required when set, wherever the metrics are served.
    token: Option<Arc<str>>,
    /// Without a token: only `127.0.0.1` and `::1`, unproxied (the main listener), or
    /// anyone who reaches the address (a listener of its own).
    loopback_only: bool,
}

/// `GET /metrics` as a router: on the main listener (`loopback_only`) or
/// on one of its own.
pub(crate) fn metrics_routes(
    telemetry: Telemetry,
    token: Option<String>,
    loopback_only: bool,
) -> Router {
    Router::new()
        .route(METRICS, get(metrics))
        .with_state(MetricsAccess {
            telemetry,
            token: token.map(Arc::from),
            loopback_only,
        })
}

/// Headers a reverse proxy adds: a request that carries one came from
/// somewhere else, whatever its socket says.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// `127.0.0.1` or `::1`: the machine's own scraper, by its usual address (the
/// rest of 127.0.0.0/8 is not taken for it).
fn is_localhost(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(ip) => ip == Ipv4Addr::LOCALHOST,
        IpAddr::V6(ip) => ip == Ipv6Addr::LOCALHOST,
    }
}

async fn metrics(
    State(access): State<MetricsAccess>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let allowed = match &access.token {
        Some(token) => crate::api::host_token(&headers)
            .is_some_and(|presented| crate::token::matches(presented, token)),
        None => {
            !access.loopback_only
                || (is_localhost(peer.ip())
                    && !FORWARDING_HEADERS
                        .iter()
                        .any(|name| headers.contains_key(*name)))
        }
    };
    if !allowed {
        return error_response(ErrorCode::Forbidden);
    }
    let mut response = access.telemetry.metrics_text().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

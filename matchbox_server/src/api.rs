//! HTTP beside the websockets: the room API, health, and the optional web root.
//!
//! `GET /` and `GET /{path}` are the websocket routes ([`crate::peer`]).
//! A plain request (no `Upgrade: websocket`) to those two routes is answered
//! here instead ([`plain_request_on_ws_route`]): from the web root when one is
//! configured (so `/` is `index.html` and `/game.js` a file), else with
//! `426 {"error": "websocket_upgrade_required"}`.

use crate::{
    forwarded::ClientAddr,
    hub::{Hub, Refusal},
    ice::IceSettings,
    limits::AddressCounter,
    origin::Origins,
    telemetry::routes,
    token,
    web_root::WebRoot,
};
use axum::{
    Json, Router,
    body::Body,
    extract::{MatchedPath, Path, RawQuery, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use bevy_p2p_protocol::{
    ApiError, CreateRoom, ErrorCode, ReclaimRoom, RoomInfo,
    api::{
        END_ROUTE, HEALTH, HOST_TICKET_ROUTE, HostTicket, ICE, JOIN_LOOKUP_QUERY,
        JOIN_REPORT_ROUTE, PEER_ROUTE, ROOM_ROUTE, ROOMS, SEAT_TICKET_ROUTE, SESSION_REPORT_ROUTE,
        START_ROUTE, STATS, TicketRequest,
    },
};
use matchbox_protocol::PeerId;
use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::error;

/// The status and JSON body for a refusal.
pub(crate) fn error_response(code: ErrorCode) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(ApiError::new(code))).into_response()
}

/// [`error_response`], with `Retry-After` (whole seconds, rounded up) for a
/// rate limit.
pub(crate) fn refusal_response(refusal: Refusal) -> Response {
    let mut response = error_response(refusal.code);
    if let Some(after) = refusal.retry_after {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    response
}

/// `/api/...` and `/healthz`, to merge into the signaling router before it
/// adds its websocket routes.
/// What the API hands out beside the rooms: ICE servers, and links under
/// the server's public address.
#[derive(Clone)]
pub(crate) struct Published {
    pub(crate) ice: IceSettings,
    /// `--public-url`, checked, without a trailing slash.
    pub(crate) public_url: Option<String>,
}

/// What one API request may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestLimits {
    /// From the request head to the answer, body included (`408 request_timeout`).
    pub(crate) timeout: Duration,
    /// The largest body read (`413 request_too_large`).
    pub(crate) max_body_bytes: usize,
}

/// Checks a public URL (`http(s)://host[:port][/path]`, no query or
/// fragment) and drops its trailing slash.
pub(crate) fn public_base(url: &str) -> Result<String, String> {
    let refuse = |why: &str| Err(format!("public URL {url:?} {why}"));
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return refuse("must start with http:// or https://");
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return refuse("names no host");
    }
    if url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("must have no query, fragment or spaces");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

pub(crate) fn routes(
    hub: Hub,
    published: Published,
    origins: Arc<Origins>,
    requests: RequestLimits,
) -> Router {
    // Pages the operator allows (a dev server, a CDN, see `origin.rs`) may
    // call the API from their visitors' browsers; any other page is refused
    // before a handler runs, since a browser sends a simple cross-origin
    // POST without asking first.
    let cors = {
        let origins = origins.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, parts| {
                origins.allows(origin, parts.headers.get(header::HOST))
            }))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
    };
    let api = Router::new()
        .route(ROOMS, post(create_room))
        .route(ROOM_ROUTE, get(room_info).put(reclaim_room))
        .route(HOST_TICKET_ROUTE, post(host_ticket))
        .route(SEAT_TICKET_ROUTE, post(seat_ticket))
        .route(JOIN_REPORT_ROUTE, post(routes::join_report))
        .route(SESSION_REPORT_ROUTE, post(routes::session_report))
        .layer(axum::Extension(Links(published.public_url.clone())))
        .layer(axum::Extension(requests))
        .route(START_ROUTE, post(start_game))
        .route(END_ROUTE, post(end_game))
        .route(PEER_ROUTE, delete(remove_peer))
        .route(STATS, get(routes::stats))
        .with_state(hub)
        .route(ICE, get(ice_servers).with_state(Arc::new(published.ice)))
        .layer(middleware::from_fn_with_state(
            origins,
            refuse_other_origins,
        ))
        // A body dribbled in a byte at a time, or a handler stuck behind
        // one, holds a connection no longer than this.
        .layer(middleware::from_fn_with_state(
            requests.timeout,
            within_deadline,
        ))
        .layer(cors);
    api.route(HEALTH, get(|| async { "ok" }))
}

/// `403 origin_not_allowed` for a request from a page not allowed to use
/// the API (preflights are the CORS layer's, which runs first).
async fn refuse_other_origins(
    State(origins): State<Arc<Origins>>,
    request: Request,
    next: Next,
) -> Response {
    match origins.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(code) => error_response(code),
    }
}

/// `408 request_timeout` for an API request not answered within `limit`.
async fn within_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| error_response(ErrorCode::RequestTimeout))
}

/// Requests being answered, per client address (a proxied request counts
/// for the address its trusted proxy names). Behind a proxy every player
/// shares the proxy's connections, which only the total caps: this keeps
/// one of them from holding them all with slow requests.
#[derive(Clone)]
pub(crate) struct InFlight(Arc<Mutex<AddressCounter>>);

impl InFlight {
    /// At most `per_address` requests at once from one address.
    pub(crate) fn new(per_address: usize, site_factor: u32) -> Self {
        Self(Arc::new(Mutex::new(AddressCounter::new(
            per_address,
            usize::MAX,
            site_factor,
        ))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AddressCounter> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One counted request; dropping it (answered, or cancelled) frees its place.
struct InFlightRequest(InFlight, IpAddr);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        self.0.lock().close(self.1);
    }
}

/// `429 too_many_connections` for a request past its address's cap.
pub(crate) async fn count_in_flight(
    State(in_flight): State<InFlight>,
    ClientAddr(client): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    if in_flight.lock().try_open(client).is_err() {
        return error_response(ErrorCode::TooManyConnections);
    }
    let _counted = InFlightRequest(in_flight, client);
    next.run(request).await
}

/// Adds what needs the finished router: static files (or JSON 404s) for
/// everything unrouted (the share page, `/play/{code}`, is
/// [`crate::share_page`]'s), and the plain-request guard on the websocket routes.
pub(crate) fn finish(router: Router, web_root: Option<WebRoot>) -> Router {
    let router = router.layer(middleware::from_fn_with_state(
        web_root.clone(),
        plain_request_on_ws_route,
    ));
    match web_root {
        Some(files) => {
            router.fallback(move |request: Request| async move { files.serve(request).await })
        }
        None => router.fallback(|| async { error_response(ErrorCode::NotFound) }),
    }
}

/// Lets websocket upgrades through to [`crate::peer`] and answers anything else on
/// `/` and `/{path}` from the web root, or with `426` when there is none.
async fn plain_request_on_ws_route(
    State(files): State<Option<WebRoot>>,
    request: Request,
    next: Next,
) -> Response {
    let on_ws_route = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| matches!(path.as_str(), "/" | "/{path}"));
    if !on_ws_route || is_websocket_upgrade(request.headers()) {
        return next.run(request).await;
    }
    match files {
        Some(files) if matches!(*request.method(), Method::GET | Method::HEAD) => {
            files.serve(request).await
        }
        _ => error_response(ErrorCode::WebsocketUpgradeRequired),
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.trim().eq_ignore_ascii_case("websocket"))
}

/// Share links under the public URL, when there is one.
#[derive(Clone)]
struct Links(Option<String>);

impl Links {
    fn share_url(&self, code: &str) -> Option<String> {
        let base = self.0.as_deref()?;
        Some(format!("{base}{}", bevy_p2p_protocol::api::play_path(code)))
    }
}

/// A JSON body: `413` past the size limit (read no further, whatever
/// `Content-Length` claims), `400` when it is not the JSON asked for (an
/// empty one is [`optional_json`]'s `None`).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    body: Body,
    requests: RequestLimits,
) -> Result<T, ErrorCode> {
    optional_json::<Option<T>>(body, requests)
        .await?
        .ok_or(ErrorCode::BadRequest)
}

/// A JSON body, or the default for an empty one: `413` past the size
/// limit (read no further, whatever `Content-Length` claims), `400` when
/// it is not the JSON asked for.
async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: Body,
    requests: RequestLimits,
) -> Result<T, ErrorCode> {
    let body = axum::body::to_bytes(body, requests.max_body_bytes)
        .await
        .map_err(|_| ErrorCode::RequestTooLarge)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|_| ErrorCode::BadRequest)
}

/// `POST /api/rooms`, with an optional [`CreateRoom`] body.
async fn create_room(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(links): axum::Extension<Links>,
    axum::Extension(requests): axum::Extension<RequestLimits>,
    body: Body,
) -> Response {
    let asked: CreateRoom = match optional_json(body, requests).await {
        Ok(asked) => asked,
        Err(refused) => return error_response(refused),
    };
    let fresh_code = || {
        crate::code::generate().map_err(|cause| {
            error!(%cause, "the OS CSPRNG failed");
            ErrorCode::Internal
        })
    };
    let created = hub.create_room(client, |rooms, key| {
        let issue_token = |code: &str| {
            key.issue(code).map_err(|cause| {
                error!(%cause, "the OS CSPRNG failed");
                ErrorCode::Internal
            })
        };
        rooms.create(Instant::now(), asked.capacity, fresh_code, issue_token)
    });
    match created {
        Ok(mut created) => {
            created.share_url = links.share_url(&created.code);
            (StatusCode::CREATED, Json(created)).into_response()
        }
        Err(refusal) => refusal_response(refusal),
    }
}

/// `GET /api/rooms/{code}`, or `GET /api/rooms/{code}?join` from a player
/// about to join: then an unknown code or a full room is counted as a
/// refused join, as a refused seat ticket is.
async fn room_info(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(links): axum::Extension<Links>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let to_join = query.as_deref().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(JOIN_LOOKUP_QUERY))
    });
    match hub.room_info(client, &code) {
        Ok(mut info) => {
            if to_join && info.is_full() {
                hub.telemetry().refused(false, ErrorCode::RoomFull);
            }
            info.share_url = links.share_url(&info.code);
            Json::<RoomInfo>(info).into_response()
        }
        Err(refusal) => {
            if to_join {
                hub.telemetry().refused(false, refusal.code);
            }
            refusal_response(refusal)
        }
    }
}

/// `PUT /api/rooms/{code}` with `Authorization: Bearer <host_token>` and an
/// optional [`ReclaimRoom`] body: `200` with the room's info when it is
/// here, `201` when this server had lost it (a restart) and opened it again
/// for its host.
async fn reclaim_room(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(links): axum::Extension<Links>,
    axum::Extension(requests): axum::Extension<RequestLimits>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let asked: ReclaimRoom = match optional_json(body, requests).await {
        Ok(asked) => asked,
        Err(refused) => return error_response(refused),
    };
    match hub.reclaim_room(
        client,
        &code,
        host_token(&headers),
        (asked.capacity, asked.started),
    ) {
        Ok((mut info, created)) => {
            info.share_url = links.share_url(&info.code);
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json::<RoomInfo>(info)).into_response()
        }
        Err(refusal) => refusal_response(refusal),
    }
}

/// `POST /api/rooms/{code}/start` with `Authorization: Bearer <host_token>`
async fn start_game(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = host_token(&headers);
    match hub.lookup_as_host(client, |rooms| rooms.start(&code, token)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal_response(refusal),
    }
}

/// `POST /api/rooms/{code}/end` with `Authorization: Bearer <host_token>`:
/// the host ends its game; the room closes now.
async fn end_game(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    match hub.end_room(client, &code, host_token(&headers)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal_response(refusal),
    }
}

/// `POST /api/rooms/{code}/host-ticket` with `Authorization: Bearer
/// <host_token>` and an optional [`TicketRequest`] body naming the host's
/// seat secret: a one-time ticket for the host's websocket, so that neither
/// the token nor the secret travels in a URL (browsers cannot set a
/// websocket's headers).
async fn host_ticket(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(requests): axum::Extension<RequestLimits>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (peer, ticket) = match ticket_request(&code, body, requests).await {
        Ok(asked) => asked,
        Err(refused) => return error_response(refused),
    };
    let token = host_token(&headers);
    let issued = hub.lookup_as_host(client, |rooms| {
        rooms.issue_host_ticket(&code, token, ticket.clone(), peer, Instant::now())
    });
    ticket_response(issued, ticket)
}

/// `POST /api/rooms/{code}/seat-ticket` with a [`TicketRequest`] naming the
/// player's seat secret: a one-time ticket for its websocket, which seats
/// it as the peer that secret stands for. A lookup like `GET
/// /api/rooms/{code}` (it tells whether the code is live), held to the same
/// budget.
async fn seat_ticket(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    axum::Extension(requests): axum::Extension<RequestLimits>,
    Path(code): Path<String>,
    body: Body,
) -> Response {
    let (peer, ticket) = match ticket_request(&code, body, requests).await {
        Ok((Some(peer), ticket)) => (peer, ticket),
        Ok((None, _)) => return error_response(ErrorCode::BadRequest),
        Err(refused) => {
            hub.telemetry().refused(false, refused);
            return error_response(refused);
        }
    };
    let issued = hub.lookup(client, |rooms| {
        rooms.issue_seat_ticket(&code, ticket.clone(), peer, Instant::now())
    });
    if let Err(refusal) = issued {
        hub.telemetry().refused(false, refusal.code);
    }
    ticket_response(issued, ticket)
}

/// A ticket request's seat secret, as the peer id it names in room `code`
/// (user input, both), and a fresh ticket.
async fn ticket_request(
    code: &str,
    body: Body,
    requests: RequestLimits,
) -> Result<(Option<PeerId>, String), ErrorCode> {
    let asked: TicketRequest = optional_json(body, requests).await?;
    let peer = match asked.seat {
        Some(seat) => Some(crate::token::seat_peer(code, &seat)?.1),
        None => None,
    };
    Ok((peer, fresh_secret()?))
}

/// `201` with a websocket ticket just issued, or the refusal.
fn ticket_response(issued: Result<(), Refusal>, ticket: String) -> Response {
    match issued {
        Ok(()) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(HostTicket {
                ticket,
                expires_in_secs: crate::rooms::HOST_TICKET_LIFETIME.as_secs(),
            }),
        )
            .into_response(),
        Err(refusal) => refusal_response(refusal),
    }
}

/// `DELETE /api/rooms/{code}/peers/{peer}` with `Authorization: Bearer
/// <host_token>`: the host removes a client (its websocket is closed with
/// `1008 removed_by_host`, which frees its seat). `204` also when the peer
/// is not in the room.
async fn remove_peer(
    State(hub): State<Hub>,
    ClientAddr(client): ClientAddr,
    Path((code, peer)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    // matchbox writes peer ids as UUIDs; anything else names no peer.
    let peer = serde_json::from_value::<PeerId>(serde_json::Value::String(peer)).ok();
    match hub.remove_client(client, &code, host_token(&headers), peer) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal_response(refusal),
    }
}

/// `GET /api/ice`: the operator's STUN and TURN servers, with a TURN
/// credential made for this request (never cached: each expires).
async fn ice_servers(State(ice): State<Arc<IceSettings>>) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // The id only tells credentials apart in coturn's logs.
    let id = match fresh_secret() {
        Ok(token) => token[..12].to_owned(),
        Err(failed) => return error_response(failed),
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(ice.answer(now, &id)),
    )
        .into_response()
}

/// A fresh random secret ([`token::generate`]), or `internal` (logged)
/// when the OS CSPRNG failed.
fn fresh_secret() -> Result<String, ErrorCode> {
    token::generate().map_err(|cause| {
        error!(%cause, "the OS CSPRNG failed");
        ErrorCode::Internal
    })
}

/// The host token of a request's `Authorization: Bearer` header.
pub(crate) fn host_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(bearer_token)
}

fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_parsing() {
        let parse =
            |raw: &'static str| bearer_token(&HeaderValue::from_static(raw)).map(str::to_owned);
        assert_eq!(parse("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(parse("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(parse("Basic abc"), None);
        assert_eq!(parse("abc"), None);
    }

    #[test]
    fn upgrade_detection() {
        let mut headers = HeaderMap::new();
        assert!(!is_websocket_upgrade(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(is_websocket_upgrade(&headers));
    }
}

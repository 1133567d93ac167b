//! HTTP beside the websockets: the room API, health, and the optional web root.
//!
//! `matchbox_signaling` owns `GET /` and `GET /{path}` for websocket upgrades.
//! A plain request (no `Upgrade: websocket`) to those two routes is answered
//! here instead ([`plain_request_on_ws_route`]): from the web root when one is
//! configured (so `/` is `index.html` and `/game.js` a file), else with
//! `426 {"error": "websocket_upgrade_required"}`.

use crate::{
    rooms::{RoomError, RoomInfo},
    token,
    topology::Hub,
};
use axum::{
    Json, Router,
    extract::{MatchedPath, Path, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use std::{path::Path as FsPath, time::Instant};
use tower::ServiceExt;
use tower_http::{
    cors::CorsLayer,
    services::{ServeDir, ServeFile},
};
use tracing::error;

/// Body of every error response: `{"error": "room_not_found"}` and the like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable reason, e.g. `invalid_code`, `room_not_found`,
    /// `room_full`, `bad_host_token`, `host_seat_taken`.
    pub error: String,
}

/// The status and JSON body for a refusal.
pub(crate) fn error_response(error: RoomError) -> Response {
    let status = match error {
        RoomError::InvalidCode => StatusCode::BAD_REQUEST,
        RoomError::RoomNotFound => StatusCode::NOT_FOUND,
        RoomError::RoomFull | RoomError::HostSeatTaken => StatusCode::CONFLICT,
        RoomError::BadHostToken => StatusCode::FORBIDDEN,
        RoomError::Busy => StatusCode::TOO_MANY_REQUESTS,
        RoomError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_error(status, error.as_str())
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        Json(ApiError {
            error: error.to_owned(),
        }),
    )
        .into_response()
}

/// `/api/...` and `/healthz`, to merge into the signaling router before it
/// adds its websocket routes.
pub(crate) fn routes(hub: Hub) -> Router {
    // The browser game may come from another origin (a dev server, a CDN);
    // the API holds nothing a cross-origin page could abuse without the token.
    let api = Router::new()
        .route("/rooms", post(create_room))
        .route("/rooms/{code}", get(room_info))
        .route("/rooms/{code}/start", post(start_game))
        .layer(CorsLayer::permissive())
        .with_state(hub);
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(|| async { "ok" }))
}

/// Adds what needs the finished router: static files (or JSON 404s) for
/// everything unrouted, and the plain-request guard on the websocket routes.
pub(crate) fn finish(router: Router, web_root: Option<&FsPath>) -> Router {
    // `web/build.sh` writes `file.gz` beside each large file: browsers that
    // accept gzip (all of them) get that, several times smaller.
    let files = web_root.map(|root| {
        ServeDir::new(root)
            .append_index_html_on_directories(true)
            .precompressed_gzip()
    });
    let router = router.layer(middleware::from_fn_with_state(
        files.clone(),
        plain_request_on_ws_route,
    ));
    match (web_root, files) {
        (Some(root), Some(files)) => router
            // The page reads the code from its own URL.
            .route_service("/play/{code}", ServeFile::new(root.join("index.html")))
            .fallback_service(files),
        _ => router.fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found") }),
    }
}

/// Lets websocket upgrades through to matchbox and answers anything else on
/// `/` and `/{path}` from the web root, or with `426` when there is none.
async fn plain_request_on_ws_route(
    State(files): State<Option<ServeDir>>,
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
            match files.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        }
        _ => json_error(StatusCode::UPGRADE_REQUIRED, "websocket_upgrade_required"),
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.trim().eq_ignore_ascii_case("websocket"))
}

/// `POST /api/rooms`
async fn create_room(State(hub): State<Hub>) -> Response {
    let host_token = match token::generate() {
        Ok(token) => token,
        Err(cause) => {
            error!(%cause, "the OS CSPRNG failed");
            return error_response(RoomError::Internal);
        }
    };
    let fresh_code = || {
        crate::code::generate().map_err(|cause| {
            error!(%cause, "the OS CSPRNG failed");
            RoomError::Internal
        })
    };
    match hub.rooms(|rooms| rooms.create(Instant::now(), fresh_code, host_token)) {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(error) => error_response(error),
    }
}

/// `GET /api/rooms/{code}`
async fn room_info(State(hub): State<Hub>, Path(code): Path<String>) -> Response {
    match hub.rooms(|rooms| rooms.info(&code)) {
        Ok(info) => Json::<RoomInfo>(info).into_response(),
        Err(error) => error_response(error),
    }
}

/// `POST /api/rooms/{code}/start` with `Authorization: Bearer <host_token>`
async fn start_game(
    State(hub): State<Hub>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(bearer_token)
        .map(str::to_owned);
    match hub.rooms(|rooms| rooms.start(&code, token.as_deref())) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error),
    }
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

//! The signaling server's room API, as the client sees it.
//!
//! Requests go through `ehttp` (a thread per request natively, `fetch` in the
//! browser); the answer lands in a shared slot that a system polls, so no
//! system ever blocks on the network.

use std::sync::{Arc, Mutex, PoisonError};

use bevy_p2p_protocol::{ApiError, CreateRoom, ErrorCode, api};
use serde::Deserialize;

use crate::session::JoinFailure;

pub use bevy_p2p_protocol::{CreatedRoom, RoomInfo};

/// A request in flight; [`Self::poll`] gives its answer once it has come.
pub struct PendingReply {
    slot: Arc<Mutex<Option<ehttp::Result<ehttp::Response>>>>,
}

impl PendingReply {
    fn send(request: ehttp::Request) -> Self {
        let slot = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        ehttp::fetch(request, move |result| {
            *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        });
        Self { slot }
    }

    /// The answer, once: `None` while the request is in flight.
    pub fn poll(&self) -> Option<ehttp::Result<ehttp::Response>> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Asks for a new room of `capacity` players, host included.
pub fn create_room(
    http_base: &str,
    capacity: usize,
    timeout: core::time::Duration,
) -> PendingReply {
    let body = CreateRoom {
        capacity: Some(capacity),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let request = ehttp::Request::post(format!("{http_base}{}", api::ROOMS), body)
        .with_header("Content-Type", "application/json");
    PendingReply::send(with_timeout(request, timeout))
}

/// Asks about the room behind a code.
pub fn get_room(http_base: &str, code: &str, timeout: core::time::Duration) -> PendingReply {
    let request = ehttp::Request::get(format!("{http_base}{}", api::room_path(code)));
    PendingReply::send(with_timeout(request, timeout))
}

/// Tells the server the host started the game (for the room's `state`).
pub fn start_room(
    http_base: &str,
    code: &str,
    host_token: &str,
    timeout: core::time::Duration,
) -> PendingReply {
    let request = ehttp::Request::post(format!("{http_base}{}", api::start_path(code)), Vec::new())
        .with_header("Authorization", format!("Bearer {host_token}"));
    PendingReply::send(with_timeout(request, timeout))
}

fn with_timeout(request: ehttp::Request, timeout: core::time::Duration) -> ehttp::Request {
    request.with_timeout(Some(timeout))
}

/// Reads a JSON answer, or says why there is none in a player's terms.
pub fn parse<T: for<'de> Deserialize<'de>>(
    result: ehttp::Result<ehttp::Response>,
) -> Result<T, JoinFailure> {
    let response = result.map_err(|_| JoinFailure::ServerUnreachable)?;
    if response.ok {
        return serde_json::from_slice(&response.bytes)
            .map_err(|e| JoinFailure::ServerError(format!("unreadable answer: {e}")));
    }
    let Ok(error) = serde_json::from_slice::<ApiError>(&response.bytes) else {
        return Err(JoinFailure::ServerError(format!(
            "HTTP {}",
            response.status
        )));
    };
    Err(match error.code() {
        Some(ErrorCode::RoomNotFound) => JoinFailure::RoomNotFound,
        Some(ErrorCode::RoomFull) => JoinFailure::RoomFull,
        Some(ErrorCode::InvalidCode) => JoinFailure::InvalidCode,
        _ => JoinFailure::ServerError(error.error),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> ehttp::Result<ehttp::Response> {
        Ok(ehttp::Response {
            url: "http://x".into(),
            ok: (200..300).contains(&status),
            status,
            status_text: String::new(),
            headers: ehttp::Headers::default(),
            bytes: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn reads_room_info() {
        let info: RoomInfo = parse(response(
            200,
            r#"{"code":"ABC234","players":2,"capacity":6,"host_connected":true,"state":"waiting"}"#,
        ))
        .unwrap();
        assert_eq!(info.players, 2);
    }

    #[test]
    fn maps_errors_to_player_terms() {
        for (status, body, failure) in [
            (
                404,
                r#"{"error":"room_not_found"}"#,
                JoinFailure::RoomNotFound,
            ),
            (409, r#"{"error":"room_full"}"#, JoinFailure::RoomFull),
            (400, r#"{"error":"invalid_code"}"#, JoinFailure::InvalidCode),
            (500, "oops", JoinFailure::ServerError("HTTP 500".into())),
        ] {
            assert_eq!(parse::<RoomInfo>(response(status, body)), Err(failure));
        }
        assert_eq!(
            parse::<RoomInfo>(Err("connection refused".into())),
            Err(JoinFailure::ServerUnreachable)
        );
        assert!(matches!(
            parse::<RoomInfo>(response(200, "{")),
            Err(JoinFailure::ServerError(_))
        ));
    }
}

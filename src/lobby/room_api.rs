//! The signaling server's room API, as the client sees it.
//!
//! [`RoomApi`] is a resource the session driver calls; the default,
//! [`HttpRoomApi`], sends requests through `ehttp` (a thread per request
//! natively, `fetch` in the browser) and the answer lands in a [`Reply`]
//! that the driver polls, so no system ever blocks on the network. Tests
//! replace it with an in-process one (`testing::MemoryRoom` does).

use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use bevy::prelude::*;
use bevy_p2p_protocol::{
    ApiError, CreateRoom, ErrorCode, api,
    api::{JoinOutcome, JoinReport, SessionReport},
};
use serde::de::DeserializeOwned;

use crate::{
    session::JoinFailure, settings::P2pSettings, share_code::ShareCode, transport::PeerId,
};

pub use bevy_p2p_protocol::{CreatedRoom, RoomInfo};

/// The room API calls the session makes. Implement it to run the session
/// against something other than the signaling server's HTTP API.
pub trait RoomCalls: Send + Sync + 'static {
    /// Asks for a new room of `capacity` players, host included.
    fn create_room(&self, settings: &P2pSettings, capacity: usize) -> Reply<CreatedRoom>;
    /// Asks about the room behind `code`.
    fn get_room(&self, settings: &P2pSettings, code: &ShareCode, to_join: bool) -> Reply<RoomInfo>;
    /// Tells the server the host started the game (only the room's listed
    /// state depends on it: nobody waits for the answer).
    fn start_room(&self, settings: &P2pSettings, code: &ShareCode, host_token: &str);
    /// Tells the server the host ends its game and leaves: the room closes
    /// now. The reply says when the server has answered (whatever it
    /// answered): the host's links stay open until then, so the server
    /// hears of the end before it sees the host's socket close.
    fn end_room(&self, settings: &P2pSettings, code: &ShareCode, host_token: &str) -> Reply<()>;
    /// Asks the server to remove a client from the host's room, freeing its
    /// seat (nobody waits for the answer).
    fn remove_client(
        &self,
        settings: &P2pSettings,
        code: &ShareCode,
        host_token: &str,
        peer: PeerId,
    );
    /// Tells the server how this client's join of `code` ended, once per
    /// seat (nobody waits for the answer). Does nothing unless implemented.
    fn report_join(
        &self,
        _settings: &P2pSettings,
        _code: &ShareCode,
        _seat: &str,
        _outcome: JoinOutcome,
    ) {
    }
    /// Tells the server how the host's session in `code` went, once per
    /// room (nobody waits for the answer). Does nothing unless implemented.
    fn report_session(
        &self,
        _settings: &P2pSettings,
        _code: &ShareCode,
        _host_token: &str,
        _report: SessionReport,
    ) {
    }
}

/// The room API the session driver uses: [`HttpRoomApi`] unless a test or a
/// game inserts another.
#[derive(Resource, Deref)]
pub struct RoomApi(pub Box<dyn RoomCalls>);

impl Default for RoomApi {
    fn default() -> Self {
        Self(Box::new(HttpRoomApi))
    }
}

/// An answer that may not have come yet.
pub struct Reply<T> {
    slot: Arc<Mutex<Option<Result<T, JoinFailure>>>>,
}

impl<T> Reply<T> {
    /// A reply with nothing in it yet, and the handle that fills it.
    pub fn pending() -> (Self, ReplySlot<T>) {
        let slot = Arc::new(Mutex::new(None));
        (Self { slot: slot.clone() }, ReplySlot { slot })
    }

    /// A reply that is already here.
    pub fn ready(result: Result<T, JoinFailure>) -> Self {
        Self {
            slot: Arc::new(Mutex::new(Some(result))),
        }
    }

    /// The answer, once: `None` while the request is in flight.
    pub fn poll(&self) -> Option<Result<T, JoinFailure>> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Fills a [`Reply`] from wherever the answer comes from.
pub struct ReplySlot<T> {
    slot: Arc<Mutex<Option<Result<T, JoinFailure>>>>,
}

impl<T> ReplySlot<T> {
    /// Hands over the answer.
    pub fn fill(self, result: Result<T, JoinFailure>) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }
}

/// The signaling server's HTTP room API.
pub struct HttpRoomApi;

impl RoomCalls for HttpRoomApi {
    fn create_room(&self, settings: &P2pSettings, capacity: usize) -> Reply<CreatedRoom> {
        let body = CreateRoom {
            capacity: Some(capacity),
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let request = ehttp::Request::post(format!("{}{}", settings.http_base(), api::ROOMS), body)
            .with_header("Content-Type", "application/json");
        fetch(request, settings.request_timeout)
    }

    fn get_room(&self, settings: &P2pSettings, code: &ShareCode, to_join: bool) -> Reply<RoomInfo> {
        let path = if to_join {
            api::join_lookup_path(code.as_str())
        } else {
            api::room_path(code.as_str())
        };
        let url = format!("{}{path}", settings.http_base());
        fetch(ehttp::Request::get(url), settings.request_timeout)
    }

    fn start_room(&self, settings: &P2pSettings, code: &ShareCode, host_token: &str) {
        let url = format!("{}{}", settings.http_base(), api::start_path(code.as_str()));
        let request = ehttp::Request::post(url, Vec::new())
            .with_header("Authorization", format!("Bearer {host_token}"))
            .with_timeout(Some(settings.request_timeout));
        ehttp::fetch(request, |_| {});
    }

    fn end_room(&self, settings: &P2pSettings, code: &ShareCode, host_token: &str) -> Reply<()> {
        let url = format!("{}{}", settings.http_base(), api::end_path(code.as_str()));
        let request = ehttp::Request::post(url, Vec::new())
            .with_header("Authorization", format!("Bearer {host_token}"))
            .with_timeout(Some(settings.request_timeout));
        let (reply, slot) = Reply::pending();
        ehttp::fetch(request, move |_| slot.fill(Ok(())));
        reply
    }

    fn remove_client(
        &self,
        settings: &P2pSettings,
        code: &ShareCode,
        host_token: &str,
        peer: PeerId,
    ) {
        let path = api::peer_path(code.as_str(), &peer.to_string());
        let request = ehttp::Request::delete(&format!("{}{path}", settings.http_base()))
            .with_header("Authorization", format!("Bearer {host_token}"))
            .with_timeout(Some(settings.request_timeout));
        ehttp::fetch(request, move |result| match result {
            Ok(response) if response.ok => {}
            other => warn!("the server did not remove client {peer}: {other:?}"),
        });
    }

    fn report_join(
        &self,
        settings: &P2pSettings,
        code: &ShareCode,
        seat: &str,
        outcome: JoinOutcome,
    ) {
        let path = api::join_report_path(code.as_str());
        let body = JoinReport {
            seat: seat.to_owned(),
            outcome,
        };
        let request = ehttp::Request::post(
            format!("{}{path}", settings.http_base()),
            serde_json::to_vec(&body).unwrap_or_default(),
        )
        .with_header("Content-Type", "application/json")
        .with_timeout(Some(settings.request_timeout));
        ehttp::fetch(request, move |result| match result {
            Ok(response) if response.ok => {}
            other => debug!("the server did not take the join report: {other:?}"),
        });
    }

    fn report_session(
        &self,
        settings: &P2pSettings,
        code: &ShareCode,
        host_token: &str,
        report: SessionReport,
    ) {
        let path = api::session_report_path(code.as_str());
        let request = ehttp::Request::post(
            format!("{}{path}", settings.http_base()),
            serde_json::to_vec(&report).unwrap_or_default(),
        )
        .with_header("Content-Type", "application/json")
        .with_header("Authorization", format!("Bearer {host_token}"))
        .with_timeout(Some(settings.request_timeout));
        ehttp::fetch(request, move |result| match result {
            Ok(response) if response.ok => {}
            other => debug!("the server did not take the session report: {other:?}"),
        });
    }
}

/// Sends `request`, bounded by the settings' request timeout; the parsed
/// answer lands in the returned [`Reply`].
pub(crate) fn fetch<T: DeserializeOwned + Send + 'static>(
    request: ehttp::Request,
    request_timeout: Duration,
) -> Reply<T> {
    let (reply, slot) = Reply::pending();
    let request = request.with_timeout(Some(request_timeout));
    ehttp::fetch(request, move |result| slot.fill(parse(result)));
    reply
}

/// Reads a JSON answer, or says why there is none in a player's terms.
pub fn parse<T: DeserializeOwned>(
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

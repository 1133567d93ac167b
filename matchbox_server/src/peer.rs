//! One websocket, from the upgrade request to the close.
//!
//! Before the upgrade, [`upgrade`] checks the page's origin and asks the
//! hub for a seat (code, token, capacity, the address's budgets); a refusal
//! is a JSON error with its HTTP status. After it, [`run`] speaks the
//! matchbox 0.15 signaling protocol: the peer is seated, then told its id
//! (`IdAssigned`), then signals
//! relayed along the room's star, until the peer closes, goes silent,
//! floods, reads too slowly, or its room closes. Every message a peer sends
//! is capped in size (by the websocket layer, before any parsing) and in
//! rate (a token bucket per socket).

use crate::{
    api,
    forwarded::ClientAddr,
    hub::{Hub, Outbox, Presented, SeatHold},
    limits::{Rate, TokenBucket},
    listener::ConnectionSlot,
    origin::Origins,
};
use axum::{
    extract::{
        Path, Query, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket, close_code},
    },
    http::HeaderMap,
    response::Response,
};
use bevy_p2p_protocol::{
    ErrorCode,
    api::{HOST_TICKET_PARAM, SEAT_TICKET_PARAM},
};
use futures::{SinkExt, StreamExt};
use matchbox_protocol::{JsonPeerEvent, JsonPeerRequest, PeerId, PeerRequest};
use std::{collections::HashMap, net::IpAddr, str::FromStr, sync::Arc, time::Duration};
use tokio::sync::watch;
use tracing::debug;

/// What one websocket may send, and how long it may stay quiet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerLimits {
    /// The largest message (and frame), bytes: larger ones close the
    /// socket (`1009`) before they are parsed.
    pub(crate) max_message_bytes: usize,
    /// Messages per socket: a peer over it is closed (`1008 too_many_messages`).
    pub(crate) messages: Rate,
    /// A socket that sends nothing this long is taken for gone.
    pub(crate) silence: Duration,
}

/// What the websocket route needs.
#[derive(Clone)]
pub(crate) struct Sockets {
    pub(crate) hub: Hub,
    pub(crate) limits: PeerLimits,
    pub(crate) origins: Arc<Origins>,
    /// Turns true when the server stops.
    pub(crate) stopping: watch::Receiver<bool>,
}

/// `GET /` and `GET /{code}` with `Upgrade: websocket` (the host adds
/// `?host_ticket=`, a client that names its seat `?seat_ticket=`): refused
/// before the upgrade, or upgraded and run.
pub(crate) async fn upgrade(
    State(sockets): State<Sockets>,
    ClientAddr(client): ClientAddr,
    axum::Extension(slot): axum::Extension<ConnectionSlot>,
    path: Option<Path<String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(refusal) = sockets.origins.check(&headers) {
        return api::refusal_response(refusal.into());
    }
    // `/` has no path: not a code.
    let code = path.map(|Path(code)| code).unwrap_or_default();
    // A ticket bought with a seat secret names the same peer every time;
    // without one, a peer is new each time it connects.
    let ticket = match (query.get(HOST_TICKET_PARAM), query.get(SEAT_TICKET_PARAM)) {
        (None, None) => Presented::Nothing,
        (Some(host), None) => Presented::Host(host),
        (None, Some(seat)) => Presented::Seat(seat),
        (Some(_), Some(_)) => return api::error_response(ErrorCode::BadRequest),
    };
    let fresh = PeerId(uuid::Uuid::new_v4());
    let host = matches!(ticket, Presented::Host(_));
    let hold = match sockets.hub.admit(client, &code, ticket, fresh) {
        Ok(hold) => hold,
        Err(refusal) => {
            sockets.hub.telemetry().refused(host, refusal.code);
            debug!(code = %crate::code::redacted(&code), error = %refusal.code, "websocket refused");
            return api::refusal_response(refusal);
        }
    };
    let max = sockets.limits.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            run(socket, sockets, hold, code, client).await;
        })
}

/// Runs one seated websocket to its end.
async fn run(socket: WebSocket, sockets: Sockets, hold: SeatHold, code: String, client: IpAddr) {
    let Sockets {
        hub,
        limits,
        mut stopping,
        ..
    } = sockets;
    let peer = hold.peer();
    let (mut sink, mut stream) = socket.split();
    // Seated before it hears its id, so that whoever the peer tells it is
    // in (a lookup, a friend) finds it counted. What the room sends it
    // meanwhile waits in its outbox, behind the id.
    let (
        _counted,
        Outbox {
            mut messages,
            mut kicked,
            serial,
        },
    ) = match hub.join(peer, hold, &code) {
        Ok((role, outbox)) => (hub.telemetry().socket_open(role), outbox),
        Err(error) => {
            // The room closed between the upgrade check and now.
            debug!(%peer, %error, "websocket started without a seat");
            let _ = sink
                .send(close(close_code::POLICY, error.as_str().to_owned()))
                .await;
            return;
        }
    };
    // The id first: a host's introductions follow at once.
    let assigned = JsonPeerEvent::IdAssigned(peer).to_string();
    if sink.send(Message::Text(assigned.into())).await.is_err() {
        // Gone before it heard anything: as if it dropped.
        hub.leave(peer, client, serial, false);
        return;
    }
    let mut writer = tokio::spawn(async move {
        while let Some(message) = messages.recv().await {
            let last = matches!(message, Message::Close(_));
            // A write that makes no progress for a while fails (see
            // `listener::StallGuard`): a peer that stopped reading ends here.
            if sink.send(message).await.is_err() || last {
                break;
            }
        }
    });
    let mut writer_done = false;

    // Set when the peer's stream broke (an oversized message): what it
    // still sends cannot be read.
    let mut unreadable = false;
    // Whether the peer ended on purpose (a close frame) or was closed for
    // what it sent: a client's seat is freed. Otherwise (it dropped, went
    // silent or stopped reading) the seat waits for it for the grace.
    let mut closed = false;
    let mut budget = TokenBucket::new(limits.messages, tokio::time::Instant::now().into_std());
    loop {
        // Every message restarts the silence clock.
        let message = tokio::select! {
            _ = &mut kicked => break,
            _ = &mut writer => {
                // Nothing more reaches the peer: its seat is as good as gone.
                debug!(%peer, "websocket writes failed or stalled: closed");
                writer_done = true;
                break;
            }
            () = crate::listener::stopped(&mut stopping) => {
                hub.disconnect(peer, serial, close_code::AWAY, "server_stopping");
                break;
            }
            message = stream.next() => message,
            () = tokio::time::sleep(limits.silence) => {
                debug!(%peer, silence = ?limits.silence, "silent for too long: taken for gone");
                hub.disconnect(peer, serial, close_code::AWAY, "silent");
                break;
            }
        };
        let message = match message {
            None => break,
            Some(Ok(Message::Close(_))) => {
                closed = true;
                break;
            }
            Some(Err(error)) => {
                let (code, reason) = if is_too_big(error) {
                    closed = true;
                    (close_code::SIZE, "message_too_big")
                } else {
                    // A reset or a broken stream: a network that failed.
                    (close_code::PROTOCOL, "protocol_error")
                };
                debug!(%peer, reason, "websocket error");
                hub.disconnect(peer, serial, code, reason);
                unreadable = true;
                break;
            }
            Some(Ok(message)) => message,
        };
        if budget
            .try_take(limits.messages, tokio::time::Instant::now().into_std())
            .is_err()
        {
            debug!(%peer, "too many messages: closed");
            hub.disconnect(peer, serial, close_code::POLICY, "too_many_messages");
            closed = true;
            break;
        }
        // Pings, pongs and binary frames carry nothing for us.
        let Message::Text(text) = message else {
            continue;
        };
        match JsonPeerRequest::from_str(&text) {
            Ok(PeerRequest::Signal { receiver, data }) => hub.relay(peer, receiver, data),
            Ok(PeerRequest::KeepAlive) => {}
            Err(error) => debug!(%peer, %error, "ignoring a malformed request"),
        }
    }
    hub.leave(peer, client, serial, closed);
    // The writer sends what is queued (a close frame, often), then ends; a
    // peer that does not read gets a moment, not forever.
    if !writer_done {
        let abort = writer.abort_handle();
        if tokio::time::timeout(CLOSE_WAIT, writer).await.is_err() {
            abort.abort();
        }
    }
    // Read on until the peer answers the close (or a moment passes): a
    // socket dropped with unread data is reset, and a reset can reach the
    // peer before the close frame that says why.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        loop {
            match stream.next().await {
                None | Some(Ok(Message::Close(_))) if !unreadable => break,
                Some(Ok(_)) if !unreadable => {}
                // Nothing more can be read: hold the socket until the wait
                // ends, so the close frame is read before the reset.
                _ => std::future::pending::<()>().await,
            }
        }
    })
    .await;
}

/// How long a closing socket waits for its last frames to go out, and for
/// the peer's answer to the close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

fn close(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Whether a read failed on a message or frame over the size cap.
fn is_too_big(error: axum::Error) -> bool {
    error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

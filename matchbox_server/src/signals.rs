//! What a relayed signal may carry: the server's wall in front of every
//! peer's WebRTC stack.
//!
//! matchbox peers exchange `{"Offer": sdp}`, `{"Answer": sdp}` and
//! `{"IceCandidate": json}` through the server. In our star the host makes
//! every offer, so a host sends a client only an `Offer` or `IceCandidate`s,
//! and a client sends its host only an `Answer` or `IceCandidate`s, each at
//! most [`DEFAULT_MAX_SIGNAL_BYTES`] (or the configured cap). Anything else
//! (another shape, a wrong direction, an oversized payload) is dropped here
//! and counted: a hostile room member cannot hand the host's WebRTC stack
//! what it was never going to accept.

use serde_json::Value;

/// The default cap on one signal's payload: an SDP is 2 to 6 KiB; 16 KiB
/// leaves room for many codecs and candidates without letting a peer make
/// the server relay megabytes.
pub const DEFAULT_MAX_SIGNAL_BYTES: usize = 16 * 1024;

/// Who sends a signal to whom, along a spoke of the star.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the room's host to one of its clients.
    HostToClient,
    /// From a client to its room's host.
    ClientToHost,
}

/// Why a signal was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not `{"Offer" | "Answer" | "IceCandidate": "<text>"}`.
    NotASignal,
    /// A kind this direction never carries (a client's offer, a host's answer).
    WrongDirection,
    /// The payload is larger than the cap.
    TooLarge,
}

/// Checks one signal going `direction`, against a payload cap of `max_bytes`.
pub(crate) fn check(data: &Value, direction: Direction, max_bytes: usize) -> Result<(), Refusal> {
    let Some(object) = data.as_object() else {
        return Err(Refusal::NotASignal);
    };
    let mut fields = object.iter();
    let (Some((kind, payload)), None) = (fields.next(), fields.next()) else {
        return Err(Refusal::NotASignal);
    };
    let Some(payload) = payload.as_str() else {
        return Err(Refusal::NotASignal);
    };
    let allowed = match (kind.as_str(), direction) {
        ("IceCandidate", _) => true,
        ("Offer", Direction::HostToClient) | ("Answer", Direction::ClientToHost) => true,
        ("Offer" | "Answer", _) => false,
        _ => return Err(Refusal::NotASignal),
    };
    if !allowed {
        return Err(Refusal::WrongDirection);
    }
    if payload.len() > max_bytes {
        return Err(Refusal::TooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CAP: usize = 64;

    #[test]
    fn each_side_sends_only_its_part_of_the_handshake() {
        use Direction::{ClientToHost, HostToClient};
        for (data, direction, expected) in [
            (json!({"Offer": "v=0"}), HostToClient, Ok(())),
            (json!({"IceCandidate": "{}"}), HostToClient, Ok(())),
            (json!({"Answer": "v=0"}), ClientToHost, Ok(())),
            (json!({"IceCandidate": "null"}), ClientToHost, Ok(())),
            (
                json!({"Offer": "v=0"}),
                ClientToHost,
                Err(Refusal::WrongDirection),
            ),
            (
                json!({"Answer": "v=0"}),
                HostToClient,
                Err(Refusal::WrongDirection),
            ),
        ] {
            assert_eq!(
                check(&data, direction, CAP),
                expected,
                "{data} {direction:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_not_a_signal() {
        for data in [
            json!("Answer"),
            json!(null),
            json!(42),
            json!([{"Answer": "v=0"}]),
            json!({}),
            json!({"Answer": 1}),
            json!({"Answer": {"sdp": "v=0"}}),
            json!({"Answer": "v=0", "Offer": "v=0"}),
            json!({"Hello": "there"}),
        ] {
            assert_eq!(
                check(&data, Direction::ClientToHost, CAP),
                Err(Refusal::NotASignal),
                "{data}"
            );
        }
    }

    #[test]
    fn payloads_are_capped() {
        let at_cap = "x".repeat(CAP);
        let over = "x".repeat(CAP + 1);
        assert_eq!(
            check(&json!({"Answer": at_cap}), Direction::ClientToHost, CAP),
            Ok(())
        );
        assert_eq!(
            check(&json!({"Answer": over}), Direction::ClientToHost, CAP),
            Err(Refusal::TooLarge)
        );
    }

    /// What a peer's websocket text goes through: the matchbox request
    /// parser, then this wall. Nothing panics, and what passes is a signal of the
    /// right kind for its direction, within the cap.
    #[test]
    fn fuzz_requests_through_the_parser_and_the_wall() {
        use bevy_p2p_protocol::fuzz;
        use matchbox_protocol::{JsonPeerRequest, PeerRequest};
        use std::str::FromStr;

        let seeds: [&[u8]; 4] = [
            br#"{"Signal":{"receiver":"67e55044-10b1-426f-9247-bb680e5fe0c8","data":{"Answer":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}}"#,
            br#"{"Signal":{"receiver":"67e55044-10b1-426f-9247-bb680e5fe0c8","data":{"IceCandidate":"{\"candidate\":\"candidate:1 1 udp 2 10.0.0.1 5000 typ host\",\"sdpMid\":\"0\"}"}}}"#,
            br#"{"Signal":{"receiver":"67e55044-10b1-426f-9247-bb680e5fe0c8","data":{"Offer":"v=0"}}}"#,
            br#""KeepAlive""#,
        ];
        let (mut signals, mut passed) = (0, 0);
        fuzz::run("server_signals", 200_000, &seeds, |bytes| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let Ok(PeerRequest::Signal { data, .. }) = JsonPeerRequest::from_str(&text) else {
                return;
            };
            signals += 1;
            for direction in [Direction::HostToClient, Direction::ClientToHost] {
                if check(&data, direction, CAP).is_ok() {
                    passed += 1;
                    let (kind, payload) = data
                        .as_object()
                        .and_then(|o| o.iter().next())
                        .expect("a passed signal is an object with one field");
                    assert!(payload.as_str().is_some_and(|p| p.len() <= CAP));
                    assert!(match direction {
                        Direction::HostToClient => kind == "Offer" || kind == "IceCandidate",
                        Direction::ClientToHost => kind == "Answer" || kind == "IceCandidate",
                    });
                }
            }
        });
        println!("server_signals: parsed_signals={signals} passed={passed}");
        assert!(
            signals > 0 && passed > 0,
            "the cases reach the wall: {signals} / {passed}"
        );
    }
}

//! Fuzzing what the fork hands webrtc-rs from a peer: the SDP of an answer
//! or offer, and ICE candidates, with the seeded mutator of
//! `bevy_p2p_protocol::fuzz`. The seeds are real: the SDP and candidates of
//! a real peer connection. Nothing may panic; the fork turns every error
//! into a failed handshake (`tests/failures.rs` shows that part).
//!
//! A real peer connection is made (host candidates only): run inside a
//! sealed network namespace, as `scripts/test` does. `P2P_FUZZ_CASES=N` runs
//! N cases per test.

#[path = "../../tests/support/sealed.rs"]
mod sealed;
use sealed::sealed;

use std::sync::Arc;

use bevy_p2p_protocol::fuzz::{self, Mutator};
use futures::executor::block_on;
use webrtc::{
    data_channel::RTCDataChannelInit,
    peer_connection::{
        PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
        RTCIceCandidateInit, RTCSessionDescription,
    },
    runtime::SmolRuntime,
};

/// Events nobody here needs.
struct Unheard;

#[matchbox_socket::async_trait::async_trait]
impl PeerConnectionEventHandler for Unheard {}

fn connection() -> Arc<dyn PeerConnection> {
    let connection = block_on(
        PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_handler(Arc::new(Unheard))
            .with_runtime(Arc::new(SmolRuntime))
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build(),
    )
    .expect("a peer connection");
    Arc::new(connection)
}

/// An offerer with its offer set, and the answer a real answerer gives it.
fn offer_and_answer() -> (Arc<dyn PeerConnection>, String, String) {
    let (offerer, answerer) = (connection(), connection());
    block_on(async {
        let init = RTCDataChannelInit {
            negotiated: Some(0),
            ..Default::default()
        };
        offerer
            .create_data_channel("fuzz", Some(init))
            .await
            .expect("a channel");
        let offer = offerer.create_offer(None).await.expect("an offer");
        offerer
            .set_local_description(offer.clone())
            .await
            .expect("set");
        answerer
            .set_remote_description(offer.clone())
            .await
            .expect("the offer");
        let answer = answerer.create_answer(None).await.expect("an answer");
        let _ = answerer.close().await;
        (offerer, offer.sdp, answer.sdp)
    })
}

#[test]
fn any_sdp_from_a_peer_parses_or_fails_without_panicking() {
    if !sealed("any_sdp_from_a_peer_parses_or_fails_without_panicking") {
        return;
    }
    let (offerer, offer, answer) = offer_and_answer();
    let seeds: [&[u8]; 2] = [answer.as_bytes(), offer.as_bytes()];
    let mut parsed = 0;
    fuzz::run("fork_sdp", 100_000, &seeds, |bytes| {
        let sdp = String::from_utf8_lossy(bytes).into_owned();
        if let Ok(description) = RTCSessionDescription::answer(sdp.clone()) {
            parsed += 1;
            let _ = description.unmarshal();
        }
        let _ = RTCSessionDescription::offer(sdp);
    });
    println!("fork_sdp: parsed_answers={parsed}");
    assert!(parsed > 0, "mutated answers still parse sometimes");

    // And the step the fork takes next, on a live connection, for some.
    let mut rng = Mutator::new(0xa5);
    let cases = fuzz::cases(100_000) / 100;
    for _ in 0..cases {
        let sdp = String::from_utf8_lossy(&rng.mutate(answer.as_bytes())).into_owned();
        if let Ok(description) = RTCSessionDescription::answer(sdp) {
            let _ = block_on(offerer.set_remote_description(description));
        }
    }
    println!("fuzz fork_set_remote_description: cases={cases}");
    let _ = block_on(offerer.close());
}

#[test]
fn any_ice_candidate_from_a_peer_is_added_or_refused_without_panicking() {
    if !sealed("any_ice_candidate_from_a_peer_is_added_or_refused_without_panicking") {
        return;
    }
    let (offerer, _, answer) = offer_and_answer();
    block_on(offerer.set_remote_description(
        RTCSessionDescription::answer(answer).expect("a real answer parses"),
    ))
    .expect("a real answer applies");
    // Loopback addresses only: a candidate that parses must not lead ICE
    // anywhere but this machine.
    let seeds: [&[u8]; 3] = [
        br#"{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}"#,
        br#"{"candidate":"candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#,
        br#"{"candidate":"","sdpMid":"0","sdpMLineIndex":0}"#,
    ];
    let (mut parsed, mut added) = (0, 0);
    fuzz::run("fork_ice_candidates", 20_000, &seeds, |bytes| {
        let Ok(init) = serde_json::from_slice::<RTCIceCandidateInit>(bytes) else {
            return;
        };
        parsed += 1;
        let loopback_only = init
            .candidate
            .split_whitespace()
            .nth(4)
            .is_none_or(|address| address == "127.0.0.1");
        if loopback_only && block_on(offerer.add_ice_candidate(init)).is_ok() {
            added += 1;
        }
    });
    println!("fork_ice_candidates: parsed={parsed} added={added}");
    assert!(parsed > 0, "mutated candidates still parse sometimes");
    let _ = block_on(offerer.close());
}

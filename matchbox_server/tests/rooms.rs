//! The signaling server end to end: real HTTP and websocket clients against
//! `serve()` on `127.0.0.1:0`, with short grace and expiry clocks.

#[path = "support/client.rs"]
mod client;

use bevy_p2p_signaling::{Limits, ServerConfig, code};
use client::*;
use matchbox_protocol::JsonPeerEvent;
use serde_json::json;
use std::{collections::HashSet, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::{Instant, sleep, timeout},
};
use tokio_tungstenite::tungstenite::Message;

/// Polls `GET /api/rooms/{code}` until it answers `status`, within [`WAIT`].
async fn wait_for_status(addr: std::net::SocketAddr, code: &str, status: u16) {
    let deadline = Instant::now() + WAIT;
    loop {
        if room_info(addr, code).await.0 == status {
            return;
        }
        assert!(Instant::now() < deadline, "{code} never answered {status}");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn healthz_answers() {
    let server = start(test_config()).await;
    let response = http(server.local_addr(), "GET", "/healthz", &[]).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn codes_are_valid_and_distinct() {
    // 200 rooms from one address: over the default per-address rate.
    let mut config = test_config();
    config.limits.rooms_per_address = bevy_p2p_signaling::Rate {
        per_minute: 1000,
        burst: 200,
    };
    let server = start(config).await;
    let mut codes = HashSet::new();
    for _ in 0..200 {
        let room = create_room(server.local_addr()).await;
        assert!(code::is_canonical(&room.code), "{}", room.code);
        assert_eq!(room.capacity, 6);
        assert!(room.host_token.len() >= 32, "token too short");
        assert!(codes.insert(room.code), "duplicate code");
    }
}

#[tokio::test]
async fn room_info_and_code_forms() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;

    let (status, body) = room_info(addr, &room.code).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"code": room.code, "players": 0, "capacity": 6, "host_connected": false, "state": "waiting"})
    );
    // Lower case and surrounding whitespace are forgiven.
    let lower = room.code.to_lowercase();
    assert_eq!(room_info(addr, &lower).await.1["code"], json!(room.code));
    assert_eq!(room_info(addr, &format!("%20{lower}%20")).await.0, 200);

    // An unknown code of the right form.
    let unknown = if room.code == "AAAAAA" {
        "BBBBBB"
    } else {
        "AAAAAA"
    };
    assert_eq!(
        room_info(addr, unknown).await,
        (404, json!({"error": "room_not_found"}))
    );
    for bad in ["ABC12", "ABCDEFG", "ABC10O", "AB%20C23"] {
        assert_eq!(
            room_info(addr, bad).await,
            (400, json!({"error": "invalid_code"})),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn websocket_refusals_come_before_the_upgrade() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let unknown = if room.code == "AAAAAA" {
        "BBBBBB"
    } else {
        "AAAAAA"
    };

    let refusal = |error: &str| json!({ "error": error });
    assert_eq!(
        try_connect(addr, "ABC10O", None).await.err(),
        Some((400, refusal("invalid_code")))
    );
    assert_eq!(
        try_connect(addr, "", None).await.err(),
        Some((400, refusal("invalid_code")))
    );
    assert_eq!(
        try_connect(addr, unknown, None).await.err(),
        Some((404, refusal("room_not_found")))
    );
    assert_eq!(
        try_connect(addr, &room.code, Some("0000")).await.err(),
        Some((403, refusal("bad_host_token")))
    );
    // Lower case joins the same room.
    let host = connect(addr, &room.code.to_lowercase(), Some(&room.host_token)).await;
    let (_, info) = room_info(addr, &room.code).await;
    assert_eq!(info["host_connected"], json!(true));
    assert_eq!(info["players"], json!(1));
    host.close().await;
}

#[tokio::test]
async fn six_admitted_seventh_refused() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let client = connect(addr, &room.code, None).await;
        assert_eq!(host.next_event().await, JsonPeerEvent::NewPeer(client.id));
        clients.push(client);
    }
    assert_eq!(
        try_connect(addr, &room.code, None).await.err(),
        Some((409, json!({"error": "room_full"})))
    );
    let (_, info) = room_info(addr, &room.code).await;
    assert_eq!(info["players"], json!(6));
    // Clients never hear NewPeer: only the host offers.
    for client in &mut clients {
        client.expect_silence().await;
    }
}

#[tokio::test]
async fn clients_wait_for_a_host_that_has_not_come_yet() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let first = connect(addr, &room.code, None).await;
    let second = connect(addr, &room.code, None).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    assert_eq!(host.expect_new_peers(2).await, [first.id, second.id].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_clients_never_overfill_a_room() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let _host = connect(addr, &room.code, Some(&room.host_token)).await;
    let _early: Vec<_> =
        futures::future::join_all((0..3).map(|_| connect(addr, &room.code, None))).await;

    // 2 seats left, 30 contenders at once.
    let contenders = (0..30).map(|_| {
        let code = room.code.clone();
        tokio::spawn(async move { try_connect(addr, &code, None).await })
    });
    let results = futures::future::join_all(contenders).await;
    let mut admitted = Vec::new();
    for result in results {
        match result.expect("task") {
            Ok(peer) => admitted.push(peer),
            Err(refusal) => assert_eq!(refusal, (409, json!({"error": "room_full"}))),
        }
    }
    assert_eq!(admitted.len(), 2);
    assert_eq!(room_info(addr, &room.code).await.1["players"], json!(6));
}

#[tokio::test]
async fn signals_stay_between_a_host_and_its_own_clients() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let a = create_room(addr).await;
    let b = create_room(addr).await;
    let mut host_a = connect(addr, &a.code, Some(&a.host_token)).await;
    let mut c1 = connect(addr, &a.code, None).await;
    let mut c2 = connect(addr, &a.code, None).await;
    let mut host_b = connect(addr, &b.code, Some(&b.host_token)).await;
    let mut c3 = connect(addr, &b.code, None).await;
    assert_eq!(host_a.next_event().await, JsonPeerEvent::NewPeer(c1.id));
    assert_eq!(host_a.next_event().await, JsonPeerEvent::NewPeer(c2.id));
    assert_eq!(host_b.next_event().await, JsonPeerEvent::NewPeer(c3.id));

    // Host and client, both ways.
    host_a.signal(c1.id, json!({"Offer": "offer"})).await;
    c1.expect_signal(host_a.id, json!({"Offer": "offer"})).await;
    c1.signal(host_a.id, json!({"Answer": "answer"})).await;
    host_a
        .expect_signal(c1.id, json!({"Answer": "answer"}))
        .await;

    // Client to client, to another room's host, host to another room's client,
    // to itself and to nobody: all dropped.
    let psst = json!({"IceCandidate": "psst"});
    c1.signal(c2.id, psst.clone()).await;
    c1.signal(host_b.id, psst.clone()).await;
    c1.signal(c1.id, psst.clone()).await;
    host_a.signal(c3.id, psst.clone()).await;
    host_a.signal(host_b.id, psst.clone()).await;
    c1.signal(matchbox_protocol::PeerId(Default::default()), psst.clone())
        .await;
    c1.signal(host_a.id, json!({"IceCandidate": "last"})).await;
    // A peer's requests are handled in order: once host A has c1's last
    // signal, the dropped ones are settled.
    host_a
        .expect_signal(c1.id, json!({"IceCandidate": "last"}))
        .await;
    host_a
        .signal(c2.id, json!({"IceCandidate": "marker"}))
        .await;
    c2.expect_signal(host_a.id, json!({"IceCandidate": "marker"}))
        .await;
    host_b.expect_silence().await;
    c3.expect_silence().await;
    c1.expect_silence().await;
}

#[tokio::test]
async fn the_server_stamps_the_sender() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let c1 = connect(addr, &room.code, None).await;
    let mut c2 = connect(addr, &room.code, None).await;
    host.next_event().await;
    host.next_event().await;
    // c2 claims to be c1; the host hears c2.
    let forged =
        json!({"Signal": {"receiver": host.id, "sender": c1.id, "data": {"IceCandidate": "hi"}}});
    c2.send_text(forged.to_string()).await;
    host.expect_signal(c2.id, json!({"IceCandidate": "hi"}))
        .await;
}

#[tokio::test]
async fn malformed_requests_are_ignored() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut client = connect(addr, &room.code, None).await;
    host.next_event().await;
    for junk in [
        "not json",
        "{}",
        r#"{"Signal": {"receiver": "not-a-uuid", "data": 1}}"#,
        r#"{"Signal": {"data": 1}}"#,
        r#""KeepAlive""#,
    ] {
        client.send_text(junk.to_owned()).await;
    }
    client
        .send_message(Message::Binary(vec![0, 1, 2].into()))
        .await;
    // Still connected and relaying.
    client
        .signal(host.id, json!({"IceCandidate": "still here"}))
        .await;
    host.expect_signal(client.id, json!({"IceCandidate": "still here"}))
        .await;
    assert_eq!(server_health(addr).await, 200);
}

async fn server_health(addr: std::net::SocketAddr) -> u16 {
    http(addr, "GET", "/healthz", &[]).await.status
}

#[tokio::test]
async fn a_leaving_client_frees_its_seat() {
    let server = start(ServerConfig {
        capacity: 3,
        client_grace: Duration::from_secs(30),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let c1 = connect(addr, &room.code, None).await;
    let _c2 = connect(addr, &room.code, None).await;
    host.next_event().await;
    host.next_event().await;
    assert_eq!(
        try_connect(addr, &room.code, None).await.err().map(|e| e.0),
        Some(409)
    );

    // A close frame: the seat is free at once, whatever the grace.
    let c1_id = c1.id;
    c1.close().await;
    assert_eq!(host.next_event().await, JsonPeerEvent::PeerLeft(c1_id));
    let c3 = connect(addr, &room.code, None).await;
    assert_eq!(host.next_event().await, JsonPeerEvent::NewPeer(c3.id));
}

#[tokio::test]
async fn a_client_its_host_removed_stays_out() {
    let server = start(ServerConfig {
        host_grace: Duration::from_secs(30),
        client_grace: Duration::from_secs(30),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let seat = format!("{}?seat=removed-seat-0123456789", room.code);
    let client = connect(addr, &seat, None).await;
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([client.id]));
    let bearer = format!("Bearer {}", room.host_token);
    let removed = http(
        addr,
        "DELETE",
        &format!("/api/rooms/{}/peers/{}", room.code, client.id),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(removed.status, 204);
    client.expect_closed().await;
    // Its seat is free at once, but not for it.
    let back = try_connect(addr, &seat, None).await.err();
    assert_eq!(back, Some((403, json!({"error": "removed_by_host"}))));
    let other = connect(addr, &room.code, None).await;
    assert_ne!(other.id, host.id);
    // Nor may anyone take the host's id as a client while the host is away.
    let host_seat = format!("{}?seat=the-hosts-seat-0123456789", room.code);
    drop(host);
    let mut host = connect(addr, &host_seat, Some(&room.host_token)).await;
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([other.id]));
    drop(host);
    sleep(QUIET).await;
    let posing = try_connect(addr, &host_seat, None).await.err();
    assert_eq!(
        posing,
        Some((403, json!({"error": "bad_host_token"}))),
        "the away host's id is not a client's"
    );
}

#[tokio::test]
async fn host_drops_and_comes_back_within_the_grace() {
    let server = start(ServerConfig {
        host_grace: Duration::from_secs(5),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut c1 = connect(addr, &room.code, None).await;
    let mut c2 = connect(addr, &room.code, None).await;
    let old_host = host.id;
    host.close().await;

    assert_eq!(c1.next_event().await, JsonPeerEvent::PeerLeft(old_host));
    assert_eq!(c2.next_event().await, JsonPeerEvent::PeerLeft(old_host));
    let (_, info) = room_info(addr, &room.code).await;
    assert_eq!(info["state"], json!("host_away"));
    assert_eq!(info["host_connected"], json!(false));
    assert_eq!(info["players"], json!(2));

    // A client may join while the host is away; it is introduced on return.
    let c3 = connect(addr, &room.code, None).await;
    assert_eq!(
        try_connect(addr, &room.code, Some("ffff"))
            .await
            .err()
            .map(|e| e.0),
        Some(403)
    );

    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    assert_ne!(host.id, old_host, "a new websocket gets a new id");
    assert_eq!(host.expect_new_peers(3).await, [c1.id, c2.id, c3.id].into());
    let (_, info) = room_info(addr, &room.code).await;
    assert_eq!(info["state"], json!("waiting"));
    assert_eq!(info["players"], json!(4));

    // Signals flow with the new host id.
    host.signal(c1.id, json!({"Offer": "offer again"})).await;
    c1.expect_signal(host.id, json!({"Offer": "offer again"}))
        .await;
}

#[tokio::test]
async fn the_room_closes_when_the_grace_ends() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut c1 = connect(addr, &room.code, None).await;
    let host_id = host.id;
    host.close().await;
    assert_eq!(c1.next_event().await, JsonPeerEvent::PeerLeft(host_id));

    // Grace is 300 ms in tests.
    c1.expect_closed().await;
    assert_eq!(
        room_info(addr, &room.code).await,
        (404, json!({"error": "room_not_found"}))
    );
    assert_eq!(
        try_connect(addr, &room.code, Some(&room.host_token))
            .await
            .err(),
        Some((404, json!({"error": "room_not_found"})))
    );
}

#[tokio::test]
async fn the_host_removes_a_client_and_its_seat_is_free_again() {
    let server = start(ServerConfig {
        capacity: 2,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let client = connect(addr, &room.code, None).await;
    assert_eq!(host.next_event().await, JsonPeerEvent::NewPeer(client.id));
    assert_eq!(
        try_connect(addr, &room.code, None).await.err().map(|e| e.0),
        Some(409),
        "the room is full"
    );
    let path = bevy_p2p_protocol::api::peer_path(&room.code, &client.id.to_string());
    let wrong = http(addr, "DELETE", &path, &[("Authorization", "Bearer 1234")]).await;
    assert_eq!(
        (wrong.status, wrong.json()),
        (403, json!({"error": "bad_host_token"}))
    );
    assert_eq!(http(addr, "DELETE", &path, &[]).await.status, 403);
    let bearer = format!("Bearer {}", room.host_token);
    // An id that is no client of the room: nothing to do.
    let nobody = bevy_p2p_protocol::api::peer_path(&room.code, "not-a-peer");
    assert_eq!(
        http(addr, "DELETE", &nobody, &[("Authorization", &bearer)])
            .await
            .status,
        204
    );
    let removed = http(addr, "DELETE", &path, &[("Authorization", &bearer)]).await;
    assert_eq!(removed.status, 204);
    let client_id = client.id;
    client.expect_closed().await;
    assert_eq!(host.next_event().await, JsonPeerEvent::PeerLeft(client_id));
    assert_eq!(room_info(addr, &room.code).await.1["players"], json!(1));
    // The seat is free: another client gets it.
    let next = connect(addr, &room.code, None).await;
    assert_eq!(host.next_event().await, JsonPeerEvent::NewPeer(next.id));
}

#[tokio::test]
async fn start_needs_the_host_token_and_host_away_wins() {
    let server = start(ServerConfig {
        host_grace: Duration::from_secs(5),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let path = format!("/api/rooms/{}/start", room.code);
    assert_eq!(http(addr, "POST", &path, &[]).await.status, 403);
    let wrong = http(addr, "POST", &path, &[("Authorization", "Bearer 1234")]).await;
    assert_eq!(
        (wrong.status, wrong.json()),
        (403, json!({"error": "bad_host_token"}))
    );
    assert_eq!(
        http(addr, "POST", "/api/rooms/ZZZZZZ/start", &[])
            .await
            .status,
        404
    );

    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    assert_eq!(
        room_info(addr, &room.code).await.1["state"],
        json!("waiting")
    );
    let bearer = format!("Bearer {}", room.host_token);
    let started = http(addr, "POST", &path, &[("Authorization", &bearer)]).await;
    assert_eq!(started.status, 204);
    assert_eq!(
        room_info(addr, &room.code).await.1["state"],
        json!("playing")
    );

    host.close().await;
    let deadline = Instant::now() + WAIT;
    while room_info(addr, &room.code).await.1["state"] != json!("host_away") {
        assert!(Instant::now() < deadline, "never host_away");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_host_that_ends_its_game_closes_its_room_at_once() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let path = format!("/api/rooms/{}/end", room.code);
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let client = connect(addr, &room.code, None).await;
    host.expect_new_peers(1).await;

    // Only its host ends a room.
    assert_eq!(http(addr, "POST", &path, &[]).await.status, 403);
    let wrong = http(addr, "POST", &path, &[("Authorization", "Bearer 1234")]).await;
    assert_eq!(
        (wrong.status, wrong.json()),
        (403, json!({"error": "bad_host_token"}))
    );
    assert_eq!(room_info(addr, &room.code).await.0, 200);

    let bearer = format!("Bearer {}", room.host_token);
    let ended = http(addr, "POST", &path, &[("Authorization", &bearer)]).await;
    assert_eq!(ended.status, 204);
    // Gone at once, not after the host's grace, and every socket in it closed.
    assert_eq!(room_info(addr, &room.code).await.0, 404);
    client.expect_closed().await;
    host.expect_closed().await;
    let again = http(addr, "POST", &path, &[("Authorization", &bearer)]).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn rooms_whose_host_never_came_close_and_hosted_ones_do_not() {
    let server = start(ServerConfig {
        unclaimed_expiry: Duration::from_millis(300),
        host_grace: Duration::from_secs(60),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let unused = create_room(addr).await;
    let waiting = create_room(addr).await;
    let hosted = create_room(addr).await;
    let client = connect(addr, &waiting.code, None).await;
    let _host = connect(addr, &hosted.code, Some(&hosted.host_token)).await;
    assert_eq!(room_info(addr, &unused.code).await.0, 200);
    wait_for_status(addr, &unused.code, 404).await;
    wait_for_status(addr, &waiting.code, 404).await;
    // The client who waited is told, not left hanging.
    client.expect_closed().await;
    sleep(Duration::from_millis(600)).await;
    assert_eq!(room_info(addr, &hosted.code).await.0, 200);
}

#[tokio::test]
async fn plain_get_on_a_websocket_route() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let response = http(addr, "GET", &format!("/{}", room.code), &[]).await;
    assert_eq!(
        (response.status, response.json()),
        (426, json!({"error": "websocket_upgrade_required"}))
    );
    let response = http(addr, "GET", "/some/where", &[]).await;
    assert_eq!(
        (response.status, response.json()),
        (404, json!({"error": "not_found"}))
    );
}

#[tokio::test]
async fn only_allowed_pages_use_the_api_and_websockets() {
    let server = start(ServerConfig {
        allowed_origins: vec!["http://localhost:8080".into()],
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let own = format!("http://{addr}");
    for allowed in ["http://localhost:8080", own.as_str()] {
        let preflight = http(
            addr,
            "OPTIONS",
            "/api/rooms",
            &[
                ("Origin", allowed),
                ("Access-Control-Request-Method", "POST"),
            ],
        )
        .await;
        assert!(preflight.status < 300, "{preflight:?}");
        assert_eq!(
            preflight.header("access-control-allow-origin").as_deref(),
            Some(allowed)
        );
        let created = http(addr, "POST", "/api/rooms", &[("Origin", allowed)]).await;
        assert_eq!(created.status, 201, "{allowed}");
        assert_eq!(
            created.header("access-control-allow-origin").as_deref(),
            Some(allowed)
        );
    }
    // Any other page: no CORS grant, and a simple POST (which a browser
    // sends without asking first) is refused before it makes a room.
    let evil = "https://evil.example";
    let preflight = http(
        addr,
        "OPTIONS",
        "/api/rooms",
        &[("Origin", evil), ("Access-Control-Request-Method", "POST")],
    )
    .await;
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    let created = http(addr, "POST", "/api/rooms", &[("Origin", evil)]).await;
    assert_eq!(
        (created.status, created.json()),
        (403, json!({"error": "origin_not_allowed"}))
    );
    assert_eq!(created.header("access-control-allow-origin"), None);
    // The same for a websocket: a page elsewhere cannot take a seat.
    let room = create_room(addr).await;
    let refused = try_connect_with(addr, &room.code, None, &[("Origin", evil)]).await;
    assert_eq!(
        refused.err(),
        Some((403, json!({"error": "origin_not_allowed"})))
    );
    assert!(
        try_connect_with(
            addr,
            &room.code,
            None,
            &[("Origin", "http://localhost:8080")]
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn web_root_is_served_beside_the_websockets() {
    let web = TempDir::new("web");
    let root = &web.0;
    std::fs::create_dir_all(root.join("assets")).expect("temp dir");
    std::fs::write(root.join("index.html"), "<html>game</html>").expect("write");
    std::fs::write(root.join("game.js"), "let x;").expect("write");
    std::fs::write(root.join("assets/a.txt"), "asset").expect("write");

    let server = start(ServerConfig {
        web_root: Some(root.clone()),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    for (path, body) in [
        ("/", "<html>game</html>"),
        ("/index.html", "<html>game</html>"),
        ("/game.js", "let x;"),
        ("/assets/a.txt", "asset"),
        (&format!("/play/{}", room.code) as &str, "<html>game</html>"),
    ] {
        let response = http(addr, "GET", path, &[]).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (200, body),
            "{path}"
        );
    }
    assert_eq!(http(addr, "GET", "/missing.js", &[]).await.status, 404);
    // A precompressed copy beside a file goes to browsers that accept it:
    // brotli before gzip, gzip when that is all there is or all accepted.
    std::fs::write(root.join("game.js.gz"), "pretend-gzip").expect("write");
    let zipped = http(addr, "GET", "/game.js", &[("Accept-Encoding", "gzip, br")]).await;
    assert_eq!((zipped.status, zipped.body.as_str()), (200, "pretend-gzip"));
    assert_eq!(zipped.header("content-encoding").as_deref(), Some("gzip"));
    std::fs::write(root.join("game.js.br"), "pretend-brotli").expect("write");
    for (accepted, body, encoding) in [
        ("gzip, deflate, br, zstd", "pretend-brotli", Some("br")),
        ("gzip, deflate", "pretend-gzip", Some("gzip")),
        ("br;q=0.5, gzip", "pretend-gzip", Some("gzip")),
        ("identity", "let x;", None),
    ] {
        let got = http(addr, "GET", "/game.js", &[("Accept-Encoding", accepted)]).await;
        assert_eq!((got.status, got.body.as_str()), (200, body), "{accepted}");
        assert_eq!(
            got.header("content-encoding").as_deref(),
            encoding,
            "{accepted}"
        );
        assert_eq!(
            got.header("vary").as_deref(),
            Some("accept-encoding"),
            "{accepted}"
        );
    }
    let plain = http(addr, "GET", "/game.js", &[]).await;
    assert_eq!((plain.status, plain.body.as_str()), (200, "let x;"));
    assert_eq!(plain.header("content-encoding"), None);
    // A file named after its content is kept for a year; the pages and
    // other files, which may change under the same name, are revalidated.
    std::fs::write(root.join("arena-0123456789abcdef.wasm"), "wasm").expect("write");
    let hashed = http(addr, "GET", "/arena-0123456789abcdef.wasm", &[]).await;
    assert_eq!(hashed.status, 200);
    assert_eq!(
        hashed.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        hashed.header("content-type").as_deref(),
        Some("application/wasm")
    );
    for path in [
        "/",
        "/index.html",
        "/game.js",
        &format!("/play/{}", room.code),
    ] {
        let got = http(addr, "GET", path, &[]).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(
            got.header("cache-control").as_deref(),
            Some("no-cache"),
            "{path}"
        );
    }
    // No caching advice on a miss.
    assert_eq!(
        http(addr, "GET", "/missing-0123456789abcdef.js", &[])
            .await
            .header("cache-control"),
        None
    );
    // The websocket route still works, and so does the API.
    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    assert_eq!(room_info(addr, &room.code).await.1["players"], json!(1));
    host.close().await;
}

#[tokio::test]
async fn shutdown_closes_websockets() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let client = connect(addr, &room.code, None).await;
    timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown in time");
    client.expect_closed().await;
}

#[test]
fn background_server_runs_without_a_runtime() {
    let server = bevy_p2p_signaling::spawn_in_background(test_config()).expect("starts");
    let addr = server.local_addr();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    use std::io::{Read, Write};
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    drop(server);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped on drop"
    );
}

#[tokio::test]
async fn a_host_asks_for_the_room_size_it_plays_with() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let json_header = [("Content-Type", "application/json")];
    let asked = http_with_body(
        addr,
        "POST",
        "/api/rooms",
        &json_header,
        r#"{"capacity":2}"#,
    )
    .await;
    assert_eq!(asked.status, 201, "{}", asked.body);
    assert_eq!(asked.json()["capacity"], json!(2));
    let code = asked.json()["code"].as_str().expect("a code").to_owned();
    assert_eq!(room_info(addr, &code).await.1["capacity"], json!(2));
    // Never more than the server's capacity.
    let greedy = http_with_body(
        addr,
        "POST",
        "/api/rooms",
        &json_header,
        r#"{"capacity":60}"#,
    )
    .await;
    assert_eq!(greedy.json()["capacity"], json!(6));
    for bad in [r#"{"capacity":0}"#, "not json", r#"{"capacity":-1}"#] {
        let refused = http_with_body(addr, "POST", "/api/rooms", &json_header, bad).await;
        assert_eq!(
            (refused.status, refused.json()["error"].clone()),
            (400, json!("bad_request")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_client_sends_its_host_only_an_answer_and_candidates() {
    let server = start(ServerConfig {
        max_signal_bytes: 1024,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut client = connect(addr, &room.code, None).await;
    assert_eq!(host.next_event().await, JsonPeerEvent::NewPeer(client.id));
    // What a hostile member might send the host: dropped and counted.
    for bad in [
        json!({"Offer": "v=0"}),
        json!({"Answer": "x".repeat(1025)}),
        json!("garbage"),
        json!({"Answer": {"sdp": "v=0"}}),
        json!({"Answer": "v=0", "IceCandidate": "{}"}),
    ] {
        client.signal(host.id, bad).await;
    }
    // The host never answers itself.
    host.signal(client.id, json!({"Answer": "v=0"})).await;
    // A well-formed answer at the cap and a candidate go through, in order.
    let answer = json!({"Answer": "x".repeat(1024)});
    client.signal(host.id, answer.clone()).await;
    client
        .signal(host.id, json!({"IceCandidate": "null"}))
        .await;
    host.expect_signal(client.id, answer).await;
    host.expect_signal(client.id, json!({"IceCandidate": "null"}))
        .await;
    host.signal(client.id, json!({"Offer": "v=0"})).await;
    client.expect_signal(host.id, json!({"Offer": "v=0"})).await;
    assert_eq!(server.dropped_signals(), 6);
    host.expect_silence().await;
}

#[tokio::test]
async fn a_host_back_on_a_new_socket_takes_its_seat_over_at_once() {
    // The first socket stays open, as one whose network died without a FIN
    // would look to the server until its silence timeout.
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut stale = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut client = connect(addr, &room.code, None).await;
    assert_eq!(stale.expect_new_peers(1).await, HashSet::from([client.id]));
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([client.id]));
    assert_eq!(client.next_event().await, JsonPeerEvent::PeerLeft(stale.id));
    stale.expect_closed().await;
    let (_, info) = room_info(addr, &room.code).await;
    assert_eq!(
        (
            info["players"].clone(),
            info["host_connected"].clone(),
            info["state"].clone()
        ),
        (json!(2), json!(true), json!("waiting"))
    );
    // The new host and its client signal each other.
    host.signal(client.id, json!({"Offer": "v=0"})).await;
    client.expect_signal(host.id, json!({"Offer": "v=0"})).await;
}

#[tokio::test]
async fn a_silent_host_is_taken_for_gone_and_a_chatty_one_is_not() {
    let server = start(ServerConfig {
        peer_silence_timeout: Duration::from_secs(1),
        // Long enough that the silent host's room is still there to look at.
        host_grace: Duration::from_secs(30),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let quiet_room = create_room(addr).await;
    let chatty_room = create_room(addr).await;
    // Neither sends a FIN: one says nothing, the other keeps alive.
    let quiet = connect(addr, &quiet_room.code, Some(&quiet_room.host_token)).await;
    let mut chatty = connect(addr, &chatty_room.code, Some(&chatty_room.host_token)).await;
    let keep_alive =
        serde_json::to_string(&matchbox_protocol::PeerRequest::<serde_json::Value>::KeepAlive)
            .expect("serializes");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2_500) {
        chatty.send_text(keep_alive.clone()).await;
        sleep(Duration::from_millis(100)).await;
    }
    // The silent host's seat is empty: its room counts down its grace.
    let (_, quiet_info) = room_info(addr, &quiet_room.code).await;
    assert_eq!(quiet_info["host_connected"], json!(false), "{quiet_info}");
    assert_eq!(quiet_info["state"], json!("host_away"));
    quiet.expect_closed().await;
    let (_, chatty_info) = room_info(addr, &chatty_room.code).await;
    assert_eq!(chatty_info["host_connected"], json!(true), "{chatty_info}");
}

#[tokio::test]
async fn players_get_the_ice_servers_with_a_fresh_turn_credential_each() {
    use bevy_p2p_signaling::{IceConfig, ice::IceSettings, ice::turn_credential};
    let server = start(ServerConfig {
        ice: IceSettings {
            stun: vec!["stun:198.51.100.1:3478".into()],
            turn: vec!["turn:198.51.100.1:3478?transport=udp".into()],
            turn_secret: Some("north-wind".into()),
            credential_lifetime: Duration::from_secs(120),
        },
        ..test_config()
    })
    .await;
    let fetch = || async {
        let response = http(server.local_addr(), "GET", "/api/ice", &[]).await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            response.header("cache-control").as_deref(),
            Some("no-store")
        );
        assert!(!response.body.contains("north-wind"), "{}", response.body);
        serde_json::from_str::<IceConfig>(&response.body).expect("an IceConfig")
    };
    let (first, second) = (fetch().await, fetch().await);
    assert_eq!(first.expires_in_secs, Some(120));
    assert_eq!(first.servers[0].urls, ["stun:198.51.100.1:3478"]);
    let turn = &first.servers[1];
    let username = turn.username.clone().expect("a TURN username");
    let (expiry, id) = username.split_once(':').expect("expiry:id");
    let expiry: u64 = expiry.parse().expect("unix time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(
        (now + 110..=now + 130).contains(&expiry),
        "{expiry} vs {now}"
    );
    // coturn recomputes exactly this from the secret it shares.
    assert_eq!(
        turn.credential,
        Some(turn_credential("north-wind", expiry, id).1)
    );
    assert_ne!(turn.username, second.servers[1].username, "one per request");
}

#[tokio::test]
async fn a_server_without_ice_servers_hands_out_an_empty_list() {
    let server = start(test_config()).await;
    let response = http(server.local_addr(), "GET", "/api/ice", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, r#"{"servers":[]}"#);
}

#[tokio::test]
async fn behind_a_proxy_rooms_come_with_their_public_share_link() {
    let server = start(ServerConfig {
        public_url: Some("https://play.example.com/".into()),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let link = format!("https://play.example.com/play/{}", room.code);
    assert_eq!(room.share_url.as_deref(), Some(link.as_str()));
    let (status, info) = room_info(addr, &room.code.to_lowercase()).await;
    assert_eq!(status, 200);
    assert_eq!(info["share_url"], link.as_str());
    // Without a public URL there is no link to give.
    let plain = start(test_config()).await;
    let room = create_room(plain.local_addr()).await;
    assert_eq!(room.share_url, None);
}

#[tokio::test]
async fn nothing_outside_the_web_root_or_hidden_in_it_is_served() {
    use std::os::unix::fs::symlink;
    let outside = TempDir::new("outside");
    std::fs::write(outside.0.join("secret.txt"), "secret").expect("write");
    std::fs::write(outside.0.join("index.html"), "<html>secret</html>").expect("write");
    std::fs::create_dir_all(outside.0.join("dir")).expect("dir");
    let web = TempDir::new("web");
    let root = &web.0;
    std::fs::write(root.join("index.html"), "<html>game</html>").expect("write");
    std::fs::write(root.join(".env"), "TOKEN=x").expect("write");
    std::fs::create_dir_all(root.join(".git")).expect("dir");
    std::fs::write(root.join(".git/config"), "[core]").expect("write");
    symlink(outside.0.join("secret.txt"), root.join("leak.txt")).expect("symlink");
    symlink(outside.0.join("dir"), root.join("away")).expect("symlink");
    // A folder whose index is a link out.
    std::fs::create_dir_all(root.join("docs")).expect("dir");
    symlink(outside.0.join("index.html"), root.join("docs/index.html")).expect("symlink");
    // A link inside the root is fine.
    symlink(root.join("index.html"), root.join("home.html")).expect("symlink");

    let server = start(ServerConfig {
        web_root: Some(root.clone()),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    for path in [
        "/.env",
        "/%2Eenv",
        "/.git/config",
        "/leak.txt",
        "/away/",
        "/docs/",
        "/docs",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let response = http(addr, "GET", path, &[]).await;
        assert_eq!(response.status, 404, "{path}: {}", response.body);
        assert!(!response.body.contains("secret"), "{path}");
    }
    assert_eq!(
        http(addr, "GET", "/home.html", &[]).await.body,
        "<html>game</html>"
    );

    // A share link's page is checked like any file.
    let linked = TempDir::new("web-linked");
    symlink(outside.0.join("index.html"), linked.0.join("index.html")).expect("symlink");
    let server = start(ServerConfig {
        web_root: Some(linked.0.clone()),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    for path in [format!("/play/{}", room.code), "/".into()] {
        let response = http(addr, "GET", &path, &[]).await;
        assert_eq!(response.status, 404, "{path}: {}", response.body);
    }
}

#[tokio::test]
async fn an_api_body_is_read_within_its_size_and_time() {
    let server = start(ServerConfig {
        limits: Limits {
            request_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let large = format!(r#"{{"capacity":2,"pad":"{}"}}"#, "x".repeat(2000));
    let refused = http_with_body(addr, "POST", "/api/rooms", &[], &large).await;
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (413, json!("request_too_large"))
    );
    // A body that never arrives: the answer comes at the deadline.
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"cap")
        .await
        .expect("write");
    let mut raw = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .expect("read");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(raw.contains("request_timeout"), "{raw}");
    // Nothing was created meanwhile, and the server goes on.
    create_room(addr).await;
}

#[tokio::test]
async fn websockets_past_an_address_cap_are_refused_before_the_upgrade() {
    let server = start(ServerConfig {
        limits: Limits {
            max_sockets_per_address: 2,
            ..Limits::default()
        },
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let first = connect(addr, &room.code, None).await;
    let _second = connect(addr, &room.code, None).await;
    let refused = try_connect(addr, &room.code, None).await.err();
    assert_eq!(
        refused,
        Some((429, json!({"error": "too_many_connections"})))
    );
    // A refused upgrade held nothing: one closed socket makes room for one.
    first.close().await;
    join_when_free(addr, &room.code).await;
}

/// Joins room `code` as a client, retrying while refused for a seat or a
/// socket slot still being freed (`409`, `429`); panics after [`WAIT`].
async fn join_when_free(addr: std::net::SocketAddr, code: &str) -> Peer {
    timeout(WAIT, async {
        loop {
            match try_connect(addr, code, None).await {
                Ok(peer) => break peer,
                Err((409 | 429, _)) => sleep(Duration::from_millis(20)).await,
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }
    })
    .await
    .expect("a seat within 5 s")
}

#[tokio::test]
async fn an_upgrade_dropped_midway_gives_its_seat_back_at_once() {
    // One client seat; a reservation not taken up would hold it 10 s.
    let server = start(ServerConfig {
        capacity: 2,
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    for _ in 0..3 {
        // The upgrade request, then gone before the answer.
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            room.code
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        drop(stream);
        // Well within the 10 s reservation timeout, the seat is back.
        join_when_free(addr, &room.code).await.close().await;
    }
}

#[tokio::test]
async fn a_clients_signal_flood_costs_its_host_signals_never_its_seat() {
    let server = start(ServerConfig {
        limits: Limits {
            peer_messages: bevy_p2p_signaling::Rate::per_second(100_000, 100_000),
            peer_queue: 8,
            ..Limits::default()
        },
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let mut client = connect(addr, &room.code, None).await;
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([client.id]));
    // The host reads nothing while its client sends 30 MiB of candidates:
    // more than its queue and both sockets' buffers hold.
    let flood = 2_000;
    let candidate = json!({"IceCandidate": "c".repeat(15 << 10)});
    for _ in 0..flood {
        client.signal(host.id, candidate.clone()).await;
    }
    timeout(WAIT, async {
        while server.dropped_signals() == 0 {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("signals past the queue are dropped");
    // A newcomer is still introduced: the server's own events have room
    // that signals cannot take.
    let newcomer = connect(addr, &room.code, None).await;
    let mut relayed = 0;
    loop {
        match host.next_event().await {
            JsonPeerEvent::Signal { sender, .. } if sender == client.id => relayed += 1,
            JsonPeerEvent::NewPeer(peer) if peer == newcomer.id => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(relayed < flood, "{relayed} of {flood} relayed");
    assert_eq!(
        room_info(addr, &room.code).await.1["host_connected"],
        json!(true)
    );
    // And the host, reading again, gets its client's signals again. The
    // newcomer's introduction went ahead of the flood still queued, so a
    // signal sent at once may find the queue full and be dropped, as it
    // should: the client sends a new one each round until one arrives
    // (bounded), while the host reads what is left of the flood.
    let mut arrived = false;
    for round in 0..100 {
        let mark = json!({"IceCandidate": format!("after the flood {round}")});
        client.signal(host.id, mark).await;
        let read = timeout(Duration::from_millis(200), async {
            loop {
                if let JsonPeerEvent::Signal { data, .. } = host.next_event().await
                    && data["IceCandidate"]
                        .as_str()
                        .is_some_and(|text| text.starts_with("after the flood"))
                {
                    return;
                }
            }
        })
        .await;
        if read.is_ok() {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "the host never got a signal of its client again");
}

#[tokio::test]
async fn behind_a_proxy_one_client_cannot_hold_every_request_slot() {
    let server = start(ServerConfig {
        trusted_proxies: vec!["127.0.0.1".parse().expect("cidr")],
        limits: Limits {
            max_connections_per_address: 2,
            ..Limits::default()
        },
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    // Two requests whose bodies never finish, from one player behind the proxy.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(
                b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.9\r\n\
                  Content-Length: 100\r\n\r\n{",
            )
            .await
            .expect("write");
        held.push(stream);
    }
    let as_player = |player: &'static str| async move {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = http(addr, "GET", "/healthz", &[("X-Forwarded-For", player)]).await;
            // The held requests reach their handler a moment after they are sent.
            if answer.status != 200 || Instant::now() > deadline {
                return answer;
            }
            sleep(Duration::from_millis(20)).await;
        }
    };
    let refused = as_player("192.0.2.9").await;
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (429, json!("too_many_connections"))
    );
    // Other players behind the same proxy are not held up.
    let other = http(
        addr,
        "GET",
        "/healthz",
        &[("X-Forwarded-For", "192.0.2.10")],
    )
    .await;
    assert_eq!(other.status, 200);
    drop(held);
    timeout(WAIT, async {
        while http(addr, "GET", "/healthz", &[("X-Forwarded-For", "192.0.2.9")])
            .await
            .status
            != 200
        {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the slots come back when the requests end");
}

#[tokio::test]
async fn a_seat_secret_brings_a_dropped_client_back_to_its_seat() {
    let server = start(ServerConfig {
        capacity: 2,
        client_grace: Duration::from_secs(30),
        ..test_config()
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let seat = format!("{}?seat=client-seat-0123456789", room.code);
    let client = connect(addr, &seat, None).await;
    let id = client.id;
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([id]));
    // Its network drops: no close frame.
    drop(client);
    assert_eq!(host.next_event().await, JsonPeerEvent::PeerLeft(id));
    // The room is full for anyone else...
    let stranger = try_connect(addr, &room.code, None).await.err();
    assert_eq!(stranger, Some((409, json!({"error": "room_full"}))));
    // ...but the same seat comes back as the same peer, introduced again.
    let back = connect(addr, &seat, None).await;
    assert_eq!(back.id, id);
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([id]));
    // A new websocket while the old one still lives takes over from it.
    let mut old = back;
    let again = connect(addr, &seat, None).await;
    assert_eq!(again.id, id);
    loop {
        match timeout(WAIT, old.next_message())
            .await
            .expect("closed in time")
        {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(frame.reason.as_str(), "seat_taken_over");
                break;
            }
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => panic!("expected the old socket closed, got {other:?}"),
        }
    }
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([id]));
    // The old socket's end leaves the new one's seat alone.
    sleep(QUIET).await;
    assert_eq!(room_info(addr, &room.code).await.1["players"], json!(2));
    // A seat secret that is no secret is refused.
    let bad = try_connect(addr, &format!("{}?seat=short", room.code), None)
        .await
        .err();
    assert_eq!(bad, Some((400, json!({"error": "bad_request"}))));
}

#[tokio::test]
async fn seat_tickets_are_good_once_and_in_their_own_room() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let (first, second) = (create_room(addr).await, create_room(addr).await);
    let ticket = |code: String, body: &'static str| async move {
        let issued = http_with_body(
            addr,
            "POST",
            &format!("/api/rooms/{code}/seat-ticket"),
            &[("Content-Type", "application/json")],
            body,
        )
        .await;
        (issued.status, issued.json())
    };
    let seat = r#"{"seat":"a-seat-secret-0123456789"}"#;
    let (status, issued) = ticket(first.code.clone(), seat).await;
    assert_eq!(status, 201, "{issued}");
    let issued = issued["ticket"].as_str().expect("a ticket").to_owned();
    let with = |code: &str| format!("{code}?seat_ticket={issued}");
    let bad_ticket = Some((403, json!({"error": "bad_ticket"})));
    // Not in another room...
    assert_eq!(
        try_connect(addr, &with(&second.code), None).await.err(),
        bad_ticket
    );
    // ...once in its own...
    let seated = connect(addr, &with(&first.code), None).await;
    // ...and never again.
    assert_eq!(
        try_connect(addr, &with(&first.code), None).await.err(),
        bad_ticket
    );
    // The same secret buys the same peer id again, and a forged ticket nothing.
    let seated_again = connect(
        addr,
        &format!("{}?seat=a-seat-secret-0123456789", first.code),
        None,
    )
    .await;
    assert_eq!(seated_again.id, seated.id);
    assert_eq!(
        try_connect(addr, &format!("{}?seat_ticket=forged", first.code), None)
            .await
            .err(),
        bad_ticket
    );
    // A seat ticket needs a seat secret, and a room.
    for (code, body, status) in [
        (first.code.clone(), "", 400),
        (first.code.clone(), r#"{"seat":"short"}"#, 400),
        ("ZZZZZZ".to_owned(), seat, 404),
    ] {
        assert_eq!(ticket(code, body).await.0, status, "{body}");
    }
    // One websocket presents one ticket.
    let both = format!("{}?seat_ticket=a&host_ticket=b", first.code);
    assert_eq!(
        try_connect(addr, &both, None).await.err(),
        Some((400, json!({"error": "bad_request"})))
    );
}

#[tokio::test]
async fn a_restarted_server_gives_a_host_its_room_back_under_the_same_code() {
    let secret = Some(bevy_p2p_signaling::RoomSecret(
        "a room secret for this test".into(),
    ));
    let first = start(ServerConfig {
        room_secret: secret.clone(),
        ..test_config()
    })
    .await;
    let room = create_room(first.local_addr()).await;
    timeout(WAIT, first.shutdown()).await.expect("stops");

    let second = start(ServerConfig {
        room_secret: secret,
        ..test_config()
    })
    .await;
    let addr = second.local_addr();
    assert_eq!(room_info(addr, &room.code).await.0, 404);
    let path = format!("/api/rooms/{}", room.code);
    let bearer = format!("Bearer {}", room.host_token);
    let reclaim = |bearer: String, body: &'static str| {
        let path = path.clone();
        async move { http_with_body(addr, "PUT", &path, &[("Authorization", &bearer)], body).await }
    };
    // Only its host's token opens it again.
    let forged = reclaim(format!("Bearer {}", "0".repeat(65)), "").await;
    assert_eq!(
        (forged.status, forged.json()["error"].clone()),
        (403, json!("bad_host_token"))
    );
    let opened = reclaim(bearer.clone(), r#"{"capacity":3,"started":true}"#).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    assert_eq!(opened.json()["code"], json!(room.code));
    assert_eq!(opened.json()["capacity"], json!(3));
    assert_eq!(opened.json()["state"], json!("playing"));
    assert_eq!(reclaim(bearer.clone(), "").await.status, 200);
    // And it works as before: the host's seat, a new player.
    let mut host = connect(addr, &room.code, Some(&room.host_token)).await;
    let client = connect(addr, &room.code, None).await;
    assert_eq!(host.expect_new_peers(1).await, HashSet::from([client.id]));

    // A server with another secret does not know the token.
    let other = start(test_config()).await;
    let refused = http_with_body(
        other.local_addr(),
        "PUT",
        &format!("/api/rooms/{}", room.code),
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(refused.status, 403);
}

//! The real tier: our signaling server on 127.0.0.1:0, real WebRTC data
//! channels between apps in this process, no STUN or TURN.
//!
//! Every test here runs inside a sealed network namespace (loopback and a
//! private veth pair, see `scripts/loopback-netns`). Run outside one, a test
//! re-runs itself inside one through that script and passes or fails with
//! it, so plain `cargo test` never sends a WebRTC packet anywhere else.

use core::time::Duration;

use bevy::prelude::*;
use bevy_p2p_multiplayer::{prelude::*, transport::Transport};
use bevy_p2p_signaling::{BackgroundServer, ServerConfig, spawn_in_background};

#[path = "support/players.rs"]
mod players;
#[path = "support/sealed.rs"]
mod support;
use players::{Failures, Push, host_a_room, roster_len, run_until, session};
use support::sealed;

const PUBLIC_URL: &str = "https://play.example.com";

fn server(grace: Duration) -> BackgroundServer {
    spawn_in_background(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        host_grace: grace,
        // As behind a reverse proxy: share links are the server's.
        public_url: Some(PUBLIC_URL.into()),
        ..Default::default()
    })
    .expect("the signaling server starts")
}

fn player_app(server: &BackgroundServer, grace: Duration) -> App {
    players::player_app(P2pSettings {
        signaling_url: format!("ws://{}", server.local_addr()),
        // Sealed: no STUN, no TURN; host candidates only.
        ice_servers: IceServers::none(),
        host_grace: grace,
        ..Default::default()
    })
}

/// Clients whose host is gone for good: waits until every one counts down,
/// then until every game ended (within `limit`); returns how long the end
/// took after the countdown began.
fn host_away_then_ended(apps: &mut [&mut App], limit: Duration) -> Duration {
    run_until(apps, Duration::from_secs(10), "host away", |apps| {
        apps.iter()
            .all(|app| matches!(session(app).status, SessionStatus::HostAway { .. }))
    });
    run_until(apps, limit, "game ended", |apps| {
        apps.iter()
            .all(|app| session(app).status == SessionStatus::Ended(EndReason::HostDidNotReconnect))
    })
}

/// `count` client apps, each asked to join with `typed` as the code.
fn joining_clients(
    server: &BackgroundServer,
    grace: Duration,
    count: usize,
    typed: &str,
) -> Vec<App> {
    (0..count)
        .map(|_| {
            let mut client = player_app(server, grace);
            client
                .world_mut()
                .write_message(LobbyRequest::Join(typed.to_string()));
            client
        })
        .collect()
}

#[test]
fn six_players_meet_by_code_and_a_seventh_is_refused() {
    if !sealed("six_players_meet_by_code_and_a_seventh_is_refused") {
        return;
    }
    let grace = Duration::from_secs(30);
    let server = server(grace);
    let mut host = player_app(&server, grace);
    let code = host_a_room(&mut host);
    let link = format!("{PUBLIC_URL}/play/{code}");
    assert_eq!(session(&host).share_link.as_deref(), Some(link.as_str()));

    // Typed the way players type: lower case, stray spaces.
    let typed = format!(" {} ", code.to_lowercase());
    let mut clients = joining_clients(&server, grace, 5, &typed);
    let mut apps: Vec<&mut App> = core::iter::once(&mut host)
        .chain(clients.iter_mut())
        .collect();
    let took = run_until(
        &mut apps,
        Duration::from_secs(10),
        "six players see six",
        |apps| apps.iter().all(|app| roster_len(app) == 6),
    );
    println!(
        "six players saw six players {:.2} s after the joins",
        took.as_secs_f64()
    );
    assert!(
        apps.iter()
            .all(|app| session(app).share_link.as_deref() == Some(link.as_str())),
        "every player shows the server's public link"
    );

    // On one machine every link is direct, and every player sees so for
    // every client (the host reports it, replication carries it).
    run_until(
        &mut apps,
        Duration::from_secs(5),
        "every client's route known",
        |apps| {
            apps.iter().all(|app| {
                let players = &app.world().resource::<Roster>().players;
                players
                    .iter()
                    .all(|p| p.route == (!p.is_host).then_some(LinkRoute::Direct))
            })
        },
    );

    let mut slots: Vec<u8> = apps
        .iter()
        .map(|app| session(app).local_slot.expect("a slot").0)
        .collect();
    slots.sort();
    assert_eq!(slots, [0, 1, 2, 3, 4, 5]);

    // A client's input reaches its own slot on the host over the data channel.
    apps[0].world_mut().write_message(LobbyRequest::Start);
    let slot = session(apps[3]).local_slot.expect("a slot");
    apps[3].world_mut().resource_mut::<LocalInput<Push>>().0 = Push(7);
    run_until(
        &mut apps,
        Duration::from_secs(5),
        "input on the host",
        |apps| apps[0].world().resource::<PlayerInputs<Push>>().get(slot) == Some(&Push(7)),
    );

    // The seventh is told the room is full, before any WebRTC work.
    let mut seventh = player_app(&server, grace);
    seventh
        .world_mut()
        .write_message(LobbyRequest::Join(code.clone()));
    apps.push(&mut seventh);
    run_until(&mut apps, Duration::from_secs(5), "room_full", |apps| {
        apps[6].world().resource::<Failures>().0 == [JoinFailure::RoomFull]
    });
    let seventh = apps.pop().expect("the seventh");
    assert_eq!(session(seventh).status, SessionStatus::Idle);
    assert!(seventh.world().get_resource::<Transport>().is_none());

    // An unknown code fails at once with its own reason.
    let mut stranger = player_app(&server, grace);
    let unknown = if code == "ZZZZZZ" { "YYYYYY" } else { "ZZZZZZ" };
    stranger
        .world_mut()
        .write_message(LobbyRequest::Join(unknown.into()));
    let took = run_until(
        &mut [&mut stranger],
        Duration::from_secs(3),
        "room_not_found",
        |apps| apps[0].world().resource::<Failures>().0 == [JoinFailure::RoomNotFound],
    );
    println!("unknown code refused in {} ms", took.as_millis());

    // Each of the five told the server its link came up: its success rate
    // is theirs, not a guess. The seventh and the stranger were refused at
    // their lookups, before any seat: join attempts that failed, not
    // connections that did.
    let url = format!(
        "http://{}{}",
        server.local_addr(),
        bevy_p2p_protocol::api::STATS
    );
    let stats = || -> Option<bevy_p2p_protocol::api::Stats> {
        let answer = ehttp::fetch_blocking(&ehttp::Request::get(&url)).ok()?;
        serde_json::from_slice(&answer.bytes).ok()
    };
    let start = std::time::Instant::now();
    let counted = loop {
        let counted = stats().expect("the server's stats");
        if counted.connected >= 5 || start.elapsed() > Duration::from_secs(10) {
            break counted;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(counted.connected, 5, "{counted:?}");
    assert_eq!(counted.connection_success_rate, Some(1.0), "{counted:?}");
    assert_eq!(counted.join_attempts, 7, "{counted:?}");
    let refused: Vec<(&str, u64)> = counted
        .failures
        .iter()
        .map(|(why, n)| (why.as_str(), *n))
        .collect();
    assert_eq!(refused, [("room_full", 1), ("room_not_found", 1)]);
}

#[test]
fn a_killed_host_socket_pauses_clients_and_the_host_comes_back() {
    if !sealed("a_killed_host_socket_pauses_clients_and_the_host_comes_back") {
        return;
    }
    let grace = Duration::from_secs(30);
    let server = server(grace);
    let mut host = player_app(&server, grace);
    let code = host_a_room(&mut host);
    let mut clients = joining_clients(&server, grace, 2, &code);
    let mut apps: Vec<&mut App> = core::iter::once(&mut host)
        .chain(clients.iter_mut())
        .collect();
    run_until(
        &mut apps,
        Duration::from_secs(10),
        "three players",
        |apps| apps.iter().all(|app| roster_len(app) == 3),
    );
    apps[0].world_mut().write_message(LobbyRequest::Start);
    run_until(&mut apps, Duration::from_secs(5), "playing", |apps| {
        apps.iter()
            .all(|app| session(app).status == SessionStatus::Playing)
    });
    let slots: Vec<_> = apps.iter().map(|app| session(app).local_slot).collect();

    // Kill the host's socket: its websocket and data channels close.
    apps[0].world_mut().remove_resource::<Transport>();
    run_until(
        &mut apps,
        Duration::from_secs(10),
        "host away on every client",
        |apps| {
            apps[1..]
                .iter()
                .all(|app| matches!(session(app).status, SessionStatus::HostAway { .. }))
        },
    );
    let SessionStatus::HostAway { remaining } = session(apps[1]).status else {
        unreachable!()
    };
    assert!(remaining <= grace);

    let took = run_until(&mut apps, Duration::from_secs(20), "play resumes", |apps| {
        apps.iter()
            .all(|app| session(app).status == SessionStatus::Playing)
            && apps.iter().all(|app| roster_len(app) == 3)
    });
    println!(
        "play resumed {:.2} s after the clients saw the host go",
        took.as_secs_f64()
    );
    let after: Vec<_> = apps.iter().map(|app| session(app).local_slot).collect();
    assert_eq!(after, slots, "everyone kept their slot");
}

#[test]
fn a_host_that_never_comes_back_ends_the_game_and_a_leaver_frees_the_seat() {
    if !sealed("a_host_that_never_comes_back_ends_the_game_and_a_leaver_frees_the_seat") {
        return;
    }
    let grace = Duration::from_secs(3);
    let server = server(grace);
    let mut host = player_app(&server, grace);
    let code = host_a_room(&mut host);
    let mut clients = joining_clients(&server, grace, 3, &code);
    {
        let mut apps: Vec<&mut App> = core::iter::once(&mut host)
            .chain(clients.iter_mut())
            .collect();
        run_until(&mut apps, Duration::from_secs(10), "four players", |apps| {
            apps.iter().all(|app| roster_len(app) == 4)
        });
        // One client leaves: its player disappears everywhere.
        apps[3].world_mut().write_message(LobbyRequest::Leave);
        run_until(
            &mut apps,
            Duration::from_secs(10),
            "the leaver's player gone",
            |apps| apps[..3].iter().all(|app| roster_len(app) == 3),
        );
        assert_eq!(session(apps[3]).status, SessionStatus::Idle);
    }
    clients.pop();

    // The host's app is gone for good.
    drop(host);
    let mut apps: Vec<&mut App> = clients.iter_mut().collect();
    let took = host_away_then_ended(&mut apps, Duration::from_secs(10));
    println!(
        "game ended {:.2} s after host away (grace {grace:?})",
        took.as_secs_f64()
    );
    assert!(
        took >= Duration::from_secs(2),
        "not before the grace ran out"
    );
    for app in &apps {
        assert!(app.world().get_resource::<Transport>().is_none());
        assert_eq!(roster_len(app), 0, "the ended game's players are cleared");
    }
}

/// A host busy for a second (a loading hitch, a starved machine) reads a
/// leaver's goodbye together with the news that its link closed: the
/// goodbye was sent first and is read first, so the seat is freed at once
/// instead of kept for a player who is not coming back.
#[test]
fn a_goodbye_read_late_still_frees_the_seat() {
    if !sealed("a_goodbye_read_late_still_frees_the_seat") {
        return;
    }
    let grace = Duration::from_secs(30);
    let server = server(grace);
    let mut host = player_app(&server, grace);
    let code = host_a_room(&mut host);
    let mut clients = joining_clients(&server, grace, 1, &code);
    let mut apps: Vec<&mut App> = core::iter::once(&mut host)
        .chain(clients.iter_mut())
        .collect();
    run_until(&mut apps, Duration::from_secs(10), "two players", |apps| {
        apps.iter().all(|app| roster_len(app) == 2)
    });
    // The client leaves while the host's app does not run: its goodbye
    // goes out, its links close half a second later.
    apps[1].world_mut().write_message(LobbyRequest::Leave);
    run_until(
        &mut apps[1..],
        Duration::from_secs(5),
        "the leaver idle",
        |apps| session(apps[0]).status == SessionStatus::Idle,
    );
    let closed = std::time::Instant::now();
    run_until(
        &mut apps[1..],
        Duration::from_secs(5),
        "links closed",
        |_| closed.elapsed() > Duration::from_millis(1_500),
    );
    // Back on the host: one frame reads both, goodbye first.
    let took = run_until(
        &mut apps[..1],
        Duration::from_secs(2),
        "seat freed",
        |apps| roster_len(apps[0]) == 1,
    );
    println!(
        "seat freed {} ms after the host ran again",
        took.as_millis()
    );
}

/// The server's grace, not each client's own, decides when the game is over:
/// when the server closes the room, the clients stop counting down.
#[test]
fn the_countdown_follows_the_room() {
    if !sealed("the_countdown_follows_the_room") {
        return;
    }
    let server_grace = Duration::from_secs(2);
    let client_grace = Duration::from_secs(30);
    let server = server(server_grace);
    let mut host = player_app(&server, client_grace);
    let code = host_a_room(&mut host);
    let mut clients = joining_clients(&server, client_grace, 2, &code);
    {
        let mut apps: Vec<&mut App> = core::iter::once(&mut host)
            .chain(clients.iter_mut())
            .collect();
        run_until(
            &mut apps,
            Duration::from_secs(10),
            "three players",
            |apps| apps.iter().all(|app| roster_len(app) == 3),
        );
    }
    drop(host);
    let mut apps: Vec<&mut App> = clients.iter_mut().collect();
    // Well before the clients' own 30 s: the server closes the room after
    // its 2 s, and the clients learn it.
    let took = host_away_then_ended(&mut apps, Duration::from_secs(15));
    println!(
        "game ended {:.2} s after host away (server grace {server_grace:?}, client grace {client_grace:?})",
        took.as_secs_f64()
    );
}

#[test]
fn the_ping_players_see_is_the_networks_not_the_frame_loops() {
    if !sealed("the_ping_players_see_is_the_networks_not_the_frame_loops") {
        return;
    }
    use bevy_p2p_multiplayer::transport::bridge::{LinkedPeers, PingTracker};
    use bevy_replicon::prelude::ClientStats;
    let server = server(Duration::from_secs(30));
    let grace = Duration::from_secs(30);
    let mut host = player_app(&server, grace);
    let code = host_a_room(&mut host);
    let mut client = joining_clients(&server, grace, 1, &code).remove(0);
    run_until(
        &mut [&mut host, &mut client],
        Duration::from_secs(15),
        "linked",
        |apps| apps.iter().all(|app| roster_len(app) == 2),
    );
    // The host's frames take 100 ms (a slow machine, a background tab);
    // the client's 5 ms. The bridge's pings wait for the host's next frame;
    // the transport's are answered when they arrive.
    let start = std::time::Instant::now();
    let mut frames = 0u32;
    while start.elapsed() < Duration::from_secs(6) {
        if frames.is_multiple_of(20) {
            host.update();
        }
        client.update();
        frames += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let world = client.world();
    let peer = world
        .resource::<LinkedPeers>()
        .host()
        .expect("still linked to the host");
    let frame_loop = world.resource::<PingTracker>().rtt(peer);
    let shown = world.resource::<ClientStats>().rtt;
    println!(
        "ping with a 100 ms host frame: shown {:.1} ms (timed at the transport), \
         the frame loops' pings {:.1} ms",
        shown * 1e3,
        frame_loop * 1e3
    );
    assert!(shown > 0.0, "the transport timed a round trip");
    assert!(
        shown < frame_loop,
        "the ping shown ({shown:.4} s) leaves out the frame loops ({frame_loop:.4} s)"
    );

    // The host leaves: its session report carries those round trips to the
    // server's figures.
    host.world_mut().write_message(LobbyRequest::Leave);
    let url = format!(
        "http://{}{}",
        server.local_addr(),
        bevy_p2p_protocol::api::STATS
    );
    let start = std::time::Instant::now();
    let stats = loop {
        host.update();
        client.update();
        let answer = ehttp::fetch_blocking(&ehttp::Request::get(&url)).expect("the stats");
        let stats: bevy_p2p_protocol::api::Stats =
            serde_json::from_slice(&answer.bytes).expect("stats");
        if stats.session_reports == 1 || start.elapsed() > Duration::from_secs(10) {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(stats.session_reports, 1, "{stats:?}");
    let latency = stats.average_latency_ms.expect("a latency from the report");
    println!("the server's average latency from the host's report: {latency:.1} ms");
    assert!(latency < frame_loop * 1e3, "{stats:?}");
}

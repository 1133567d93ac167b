//! The fault tier: real faults under a running game, with our signaling
//! server, real WebRTC between apps in this process, and no STUN or TURN.
//!
//! - The signaling server is killed mid-game and restarted on the same
//!   address: play goes on over the data channels, a join while it is down
//!   fails as "can't reach the game server", and after the restart the host
//!   opens its room again (same code) and a new player joins.
//! - A client's link to its host dies while both stay in the room: the
//!   client counts down, asks the server to introduce it again, and comes
//!   back to the same slot and the same player entity.
//!
//! Every test runs inside a sealed network namespace (`scripts/loopback-netns`);
//! run outside one, a test re-runs itself inside one.

use core::time::Duration;
use std::time::Instant;

use bevy::prelude::*;
use bevy_p2p_multiplayer::{prelude::*, transport::Transport};

#[path = "support/faulty_game.rs"]
mod faulty_game;
#[path = "support/players.rs"]
mod players;
#[path = "support/sealed.rs"]
mod support;
use faulty_game::{a_game, input_arrives, player_app, playing, server};
use players::{Failures, roster_len, run_until, session};
use support::sealed;

/// Updates every app for `time`, checking `always` after each round.
fn run_for(
    apps: &mut [&mut App],
    time: Duration,
    what: &str,
    always: impl Fn(&[&mut App]) -> bool,
) {
    let start = Instant::now();
    while start.elapsed() < time {
        for app in apps.iter_mut() {
            app.update();
        }
        assert!(always(apps), "{what}: broken after {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_signaling_restart_keeps_play_going_and_the_room_takes_new_players() {
    if !sealed("a_signaling_restart_keeps_play_going_and_the_room_takes_new_players") {
        return;
    }
    let first = server("127.0.0.1:0".parse().expect("an address"));
    let addr = first.local_addr();
    let (mut apps, code) = a_game(addr, 2);
    let mut refs: Vec<&mut App> = apps.iter_mut().collect();
    input_arrives(&mut refs, 1, 1, Duration::from_secs(5));

    // The server goes away mid-game.
    drop(first);
    run_for(
        &mut refs,
        Duration::from_secs(3),
        "play without the server",
        |apps| apps.iter().all(|app| playing(app) && roster_len(app) == 3),
    );
    for (client, value) in [(1, 2), (2, 3)] {
        input_arrives(&mut refs, client, value, Duration::from_secs(3));
    }

    // A newcomer meanwhile is told the server is out of reach, not that
    // the game does not exist.
    let mut newcomer = player_app(addr);
    newcomer
        .world_mut()
        .write_message(LobbyRequest::Join(code.clone()));
    refs.push(&mut newcomer);
    run_until(
        &mut refs,
        Duration::from_secs(10),
        "the newcomer's failure",
        |apps| !apps[3].world().resource::<Failures>().0.is_empty(),
    );
    assert_eq!(
        refs[3].world().resource::<Failures>().0,
        [JoinFailure::ServerUnreachable]
    );
    refs.pop();

    // Back on the same address: the host opens its room again, and a new
    // player joins the same code.
    let restarted_at = Instant::now();
    let _second = server(addr);
    let mut late = player_app(addr);
    refs.push(&mut late);
    // Until the host has its room back, the late player's join is refused:
    // it asks again a moment after each refusal.
    let mut next_ask = Instant::now();
    let joined = loop {
        if Instant::now() >= next_ask && session(refs[3]).status == SessionStatus::Idle {
            refs[3].world_mut().resource_mut::<Failures>().0.clear();
            refs[3]
                .world_mut()
                .write_message(LobbyRequest::Join(code.clone()));
            next_ask = Instant::now() + Duration::from_millis(500);
        }
        for app in refs.iter_mut() {
            app.update();
        }
        if refs.iter().all(|app| roster_len(app) == 4) {
            break restarted_at.elapsed();
        }
        assert!(
            restarted_at.elapsed() < Duration::from_secs(15),
            "no new player within 15 s of the restart (last refusals: {:?})",
            refs[3].world().resource::<Failures>().0
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    println!(
        "signaling restart: a new player joined {:.2} s after the server came back",
        joined.as_secs_f64()
    );
    assert!(refs[..3].iter().all(|app| playing(app)));
    input_arrives(&mut refs, 3, 4, Duration::from_secs(5));
    // The room came back as it was: a game being played, not a lobby.
    let url = format!("http://{addr}{}", bevy_p2p_protocol::api::room_path(&code));
    let answer = ehttp::fetch_blocking(&ehttp::Request::get(url)).expect("the room's info");
    let info: bevy_p2p_protocol::RoomInfo =
        serde_json::from_slice(&answer.bytes).expect("a room info");
    assert_eq!(
        info.state,
        bevy_p2p_protocol::RoomState::Playing,
        "{info:?}"
    );
}

#[test]
fn a_client_whose_link_died_comes_back_to_its_slot_and_player() {
    if !sealed("a_client_whose_link_died_comes_back_to_its_slot_and_player") {
        return;
    }
    let server = server("127.0.0.1:0".parse().expect("an address"));
    let (mut apps, _code) = a_game(server.local_addr(), 2);
    let mut refs: Vec<&mut App> = apps.iter_mut().collect();
    let slot = session(refs[1]).local_slot.expect("a slot");
    let player_entity = |host: &mut App| {
        let mut players = host.world_mut().query::<(Entity, &Player)>();
        players
            .iter(host.world())
            .find(|(_, player)| player.slot == slot)
            .map(|(entity, _)| entity)
    };
    let before = player_entity(refs[0]).expect("the client's player");

    // The client's link to its host dies (both ends close it); the host
    // and the signaling server stay.
    let host_peer = {
        let linked = refs[1]
            .world()
            .resource::<bevy_p2p_multiplayer::transport::bridge::LinkedPeers>();
        linked.host().expect("linked to the host")
    };
    refs[1]
        .world_mut()
        .resource_mut::<Transport>()
        .disconnect(host_peer);
    run_until(
        &mut refs,
        Duration::from_secs(10),
        "the client counts down",
        |apps| matches!(session(apps[1]).status, SessionStatus::HostAway { .. }),
    );
    // Meanwhile its player waits on the host.
    let took = run_until(
        &mut refs,
        Duration::from_secs(20),
        "the client back",
        |apps| apps.iter().all(|app| playing(app) && roster_len(app) == 3),
    );
    println!(
        "a client's dead link: back in play {:.2} s after its countdown began",
        took.as_secs_f64()
    );
    assert_eq!(session(refs[1]).local_slot, Some(slot), "same slot");
    assert_eq!(player_entity(refs[0]), Some(before), "same player entity");
    input_arrives(&mut refs, 1, 5, Duration::from_secs(5));
}

#[test]
fn a_host_that_leaves_ends_the_game_at_once() {
    if !sealed("a_host_that_leaves_ends_the_game_at_once") {
        return;
    }
    let server = server("127.0.0.1:0".parse().expect("an address"));
    let (mut apps, _code) = a_game(server.local_addr(), 2);
    let mut refs: Vec<&mut App> = apps.iter_mut().collect();
    refs[0].world_mut().write_message(LobbyRequest::Leave);
    // Its goodbye arrives before its links close: no countdown for a host
    // that is not coming back.
    let took = run_until(&mut refs, Duration::from_secs(5), "the game over", |apps| {
        apps[1..]
            .iter()
            .all(|app| session(app).status == SessionStatus::Ended(EndReason::HostLeft))
    });
    println!(
        "a host's goodbye: its clients' game over {:.2} s after it left",
        took.as_secs_f64()
    );
    assert_eq!(session(refs[0]).status, SessionStatus::Idle);
}

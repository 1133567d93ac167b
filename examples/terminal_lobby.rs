//! A game with its own UI: a lobby in the terminal, no egui.
//!
//! The seam between a game and the plugin is small: the game writes
//! [`LobbyRequest`]s and reads [`Session`] and [`Roster`] (and, if it wants,
//! messages such as [`JoinFailed`]). Nothing else. This example is that seam
//! and nothing more: type `host`, `join CODE`, `start`, `leave` or `quit`.
//!
//! ```sh
//! cargo run -p bevy_p2p_signaling          # terminal 1: the signaling server
//! cargo run --example terminal_lobby       # terminal 2: type `host`
//! cargo run --example terminal_lobby       # terminal 3: type `join` and the code
//! ```
//!
//! `P2P_SIGNALING_URL` points it at another server; `P2P_NO_STUN=1` uses no
//! STUN server (one machine or a LAN).

use std::sync::{Mutex, PoisonError, mpsc};

use bevy::{app::ScheduleRunnerPlugin, prelude::*};
use bevy_p2p_multiplayer::prelude::*;

/// Lines typed in the terminal, read on a thread of their own.
#[derive(Resource)]
struct Typed(Mutex<mpsc::Receiver<String>>);

fn main() {
    let (send, typed) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut settings = P2pSettings::default();
    if let Ok(url) = std::env::var("P2P_SIGNALING_URL") {
        settings.signaling_url = url;
    }
    // No STUN server: players on one machine or LAN only.
    if std::env::var("P2P_NO_STUN").as_deref() == Ok("1") {
        settings.ice_servers = IceServers::none();
    }
    println!("type: host | join CODE | start | leave | quit");
    App::new()
        .insert_resource(settings)
        .insert_resource(Typed(Mutex::new(typed)))
        .add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(
                core::time::Duration::from_secs_f64(1.0 / 60.0),
            )),
            // With no renderer the plugin's own overlays stay off.
            P2pMultiplayerPlugin,
        ))
        .add_systems(Update, (read_commands, show_session, show_failures))
        .run();
}

/// Turns what was typed into lobby requests: the only way in.
fn read_commands(
    typed: Res<Typed>,
    mut lobby: MessageWriter<LobbyRequest>,
    mut exit: MessageWriter<AppExit>,
) {
    let typed = typed.0.lock().unwrap_or_else(PoisonError::into_inner);
    for line in typed.try_iter() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("host"), None) => {
                lobby.write(LobbyRequest::Host);
            }
            (Some("join"), Some(code)) => {
                lobby.write(LobbyRequest::Join(code.to_owned()));
            }
            (Some("start"), None) => {
                lobby.write(LobbyRequest::Start);
            }
            (Some("leave"), None) => {
                lobby.write(LobbyRequest::Leave);
            }
            (Some("quit"), None) => {
                exit.write(AppExit::Success);
            }
            _ => println!("type: host | join CODE | start | leave | quit"),
        }
    }
}

/// Prints where the game stands whenever it changes: what the plugin offers
/// to read.
fn show_session(session: Res<Session>, roster: Res<Roster>, mut shown: Local<String>) {
    if !session.is_changed() && !roster.is_changed() {
        return;
    }
    let code = session
        .code
        .as_ref()
        .map(|code| format!(" code {code}"))
        .unwrap_or_default();
    let players: Vec<String> = roster
        .players
        .iter()
        .map(|p| {
            let who = match (p.is_host, p.is_local) {
                (true, true) => " (host, you)",
                (true, false) => " (host)",
                (false, true) => " (you)",
                (false, false) => "",
            };
            format!("player {}{who}", p.slot.0 + 1)
        })
        .collect();
    // The roster also changes with every ping: a line only when this did.
    let line = format!("{:?}{code} | {}", session.status, players.join(", "));
    if *shown == line {
        return;
    }
    println!("{line}");
    if let (Some(link), SessionStatus::InLobby) = (&session.share_link, &session.status) {
        println!("share link: {link}");
    }
    *shown = line;
}

/// Says why hosting or joining failed, in a player's words.
fn show_failures(mut failures: MessageReader<JoinFailed>) {
    for failure in failures.read() {
        println!("{}", failure.reason);
    }
}

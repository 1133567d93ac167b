//! The arena: a small 2D top-down game for up to 6 players, peer to peer.
//!
//! `cargo run --example arena` opens a window with the lobby: host a game
//! and share its code or link, or join one by code. WASD or arrows move,
//! space shoots; a player at zero health respawns. The host simulates; the
//! clients draw what it replicates at a smooth playout clock (`view.rs`),
//! and with `--predict` draw their own player ahead (`predict.rs`).
//!
//! Shots are judged in host time, with no lag compensation: a bullet hits
//! whoever the host's own simulation has within reach on that tick. A
//! client sees the others about half a round trip plus its playout delay
//! in the past, and its shot leaves half a round trip after the key, so at
//! a 100 ms round trip a target that keeps walking (240 px/s) is about
//! 28 px from where the shooter saw it (a player is 40 px across). We keep
//! it: bullets are slow (600 px/s) and led anyway, and what the host
//! simulates is what happened (no client can claim a hit it did not make,
//! and the host keeps no history to rewind).
//!
//! Headless modes serve tests, benchmarks and dedicated hosts:
//! `--headless --host`, `--headless --join CODE`, `--bots N`; see `--help`.
//! In the browser, `/play/{CODE}` joins that code at once.

mod controls;
mod executor;
mod game;
mod options;
mod predict;
mod render;
mod view;

#[cfg(not(target_family = "wasm"))]
mod bots;
#[cfg(not(target_family = "wasm"))]
mod local_server;
#[cfg(target_family = "wasm")]
mod web;

use core::time::Duration;

use bevy::{app::ScheduleRunnerPlugin, log::LogPlugin, prelude::*};
use bevy_p2p_multiplayer::{prelude::*, ui::P2pUiPlugin};

use options::Options;

fn main() {
    #[cfg(not(target_family = "wasm"))]
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            let help = message == options::USAGE;
            if help {
                println!("{message}");
            } else {
                eprintln!("{message}");
            }
            std::process::exit(if help { 0 } else { 2 });
        }
    };
    #[cfg(target_family = "wasm")]
    let options = web::options();

    let settings = settings(&options);
    #[cfg(not(target_family = "wasm"))]
    if let Err(error) = settings.validate() {
        eprintln!("{error}");
        std::process::exit(2);
    }
    // Kept alive for the whole run: dropping it stops the embedded server.
    // Never for a player joining a code: a stand-in server cannot have the
    // game, and "Game not found" would hide that the real server is down.
    #[cfg(not(target_family = "wasm"))]
    let _local_server = if options.join.is_none() {
        local_server::ensure(&settings)
    } else {
        None
    };

    arena_app(options, settings).run();
}

/// The signaling server: `--server`, else `P2P_SIGNALING_URL`, else the
/// plugin's default (in the browser: the server that served the page).
fn settings(options: &Options) -> P2pSettings {
    let mut settings = P2pSettings::default();
    #[cfg(not(target_family = "wasm"))]
    if let Some(url) = options
        .server
        .clone()
        .or_else(|| std::env::var("P2P_SIGNALING_URL").ok())
    {
        settings.signaling_url = url;
    }
    #[cfg(target_family = "wasm")]
    if let Some(url) = options.server.clone().or_else(web::signaling_url) {
        settings.signaling_url = url;
    }
    // A game with no STUN server still links peers on one machine or LAN;
    // tests and LAN parties need not ask the internet.
    #[cfg(not(target_family = "wasm"))]
    let no_stun = options.no_stun || std::env::var("P2P_NO_STUN").as_deref() == Ok("1");
    #[cfg(target_family = "wasm")]
    let no_stun = options.no_stun;
    if no_stun {
        settings.ice_servers = IceServers::none();
    }
    settings
}

/// Builds the arena app for `options`, talking to the server and ICE
/// servers of `settings` (also used for in-process bots, which get their
/// host's settings).
pub fn arena_app(options: Options, settings: P2pSettings) -> App {
    // A browser page has no headless, scripted or timed modes: said as
    // constants, so that their code is left out of the download.
    #[cfg(target_family = "wasm")]
    let options = Options {
        headless: false,
        bot: false,
        report_players: false,
        quit_after: None,
        ..options
    };
    let mut app = App::new();
    // Before the plugin, which reads the tick rate from it.
    app.insert_resource(settings.clone());
    if options.headless {
        app.add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
                1.0 / 120.0,
            ))),
            P2pMultiplayerPlugin.build().disable::<P2pUiPlugin>(),
        ))
        .add_systems(Update, (report_to_stdout, start_when_hosting));
        // A bot shares its process's logger.
        if !options.in_process {
            app.add_plugins(LogPlugin::default());
        }
        if options.report_players {
            app.add_systems(Update, report_players);
        }
    } else {
        app.add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Arena".into(),
                    canvas: Some("#arena".into()),
                    fit_canvas_to_parent: true,
                    ..default()
                }),
                ..default()
            }),
            P2pMultiplayerPlugin,
            render::ArenaRenderPlugin,
        ))
        .insert_resource(ClearColor(Color::srgb(0.05, 0.05, 0.07)));
        if options.start {
            app.add_systems(Update, start_when_hosting);
        }
    }
    app.add_plugins(game::ArenaGamePlugin);
    if options.predict {
        app.add_plugins(predict::ArenaPredictionPlugin);
    }

    if options.bot {
        app.add_systems(PreUpdate, controls::play_bot);
    } else if !options.headless {
        app.add_systems(PreUpdate, controls::read_keyboard);
    }

    let first = if options.host {
        Some(LobbyRequest::Host)
    } else {
        options.join.clone().map(LobbyRequest::Join)
    };
    if let Some(request) = first {
        app.add_systems(Startup, move |mut lobby: MessageWriter<LobbyRequest>| {
            lobby.write(request.clone());
        });
    }

    #[cfg(not(target_family = "wasm"))]
    if options.bots > 0 {
        app.insert_resource(bots::PendingBots {
            count: options.bots,
            settings,
        })
        .add_systems(Update, bots::start_bots);
    }
    #[cfg(target_family = "wasm")]
    {
        web::install_close_warning();
        app.add_systems(Update, web::reflect_session);
    }
    if let Some(seconds) = options.quit_after {
        app.add_systems(
            Update,
            move |time: Res<Time<Real>>, mut exit: MessageWriter<AppExit>| {
                if time.elapsed_secs_f64() >= seconds {
                    exit.write(AppExit::Success);
                }
            },
        );
    }
    if options.headless {
        // Last, so that every schedule the app has is counted in.
        executor::run_schedules_on_one_thread(&mut app);
    }
    app
}

/// Headless runs say what happens on stdout, one line per change, so that
/// scripts and tests can follow them; a headless game that ends quits.
fn report_to_stdout(
    session: Res<Session>,
    roster: Res<Roster>,
    settings: Res<P2pSettings>,
    mut failures: MessageReader<JoinFailed>,
    mut exit: MessageWriter<AppExit>,
    mut last: Local<Option<(SessionStatus, usize)>>,
) {
    for failure in failures.read() {
        println!("join failed: {}", failure.reason);
        exit.write(AppExit::error());
    }
    let status = match &session.status {
        // Whole seconds, so the countdown prints once a second.
        SessionStatus::HostAway { remaining } => SessionStatus::HostAway {
            remaining: Duration::from_secs(remaining.as_secs()),
        },
        SessionStatus::Reconnecting { remaining } => SessionStatus::Reconnecting {
            remaining: Duration::from_secs(remaining.as_secs()),
        },
        other => other.clone(),
    };
    let now = (status.clone(), roster.players.len());
    if last.as_ref() == Some(&now) {
        return;
    }
    if last
        .as_ref()
        .is_none_or(|(before, _)| before == &SessionStatus::Connecting)
        && let Some(code) = &session.code
        && matches!(status, SessionStatus::InLobby | SessionStatus::Playing)
    {
        println!("code: {code}");
        println!("link: {}", settings.share_link(code.as_str()));
    }
    println!("status: {status:?} players: {}", now.1);
    if matches!(status, SessionStatus::Ended(_)) {
        exit.write(AppExit::Success);
    }
    *last = Some(now);
}

/// `--report-players`: a line per player that changed, at most 4 times a second.
fn report_players(
    time: Res<Time<Real>>,
    mut pending: Local<(f64, std::collections::BTreeSet<u8>)>,
    players: Query<(&Player, Ref<game::Body>)>,
) {
    let (next, changed) = &mut *pending;
    changed.extend(
        players
            .iter()
            .filter(|(_, body)| body.is_changed())
            .map(|(p, _)| p.slot.0),
    );
    if time.elapsed_secs_f64() < *next || changed.is_empty() {
        return;
    }
    *next = time.elapsed_secs_f64() + 0.25;
    for (player, body) in &players {
        if changed.remove(&player.slot.0) {
            let at = body.position();
            println!(
                "player slot={} x={:.1} y={:.1} health={}",
                player.slot.0, at.x, at.y, body.health
            );
        }
    }
    changed.clear();
}

/// A headless host has nobody to press Start, and `--start` (or the page's
/// `start`) asks for none: the game runs at once and players join it as it
/// goes.
fn start_when_hosting(
    session: Res<Session>,
    role: Option<Res<Role>>,
    mut lobby: MessageWriter<LobbyRequest>,
) {
    if role.as_deref() == Some(&Role::Host) && session.status == SessionStatus::InLobby {
        lobby.write(LobbyRequest::Start);
    }
}

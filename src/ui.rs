//! The egui overlays (feature `ui`): lobby, in-game bar, network overlay
//! (F3), host-away countdown, the end-of-game notice and the upgrade prompt.
//!
//! [`P2pUiPlugin`] is part of [`P2pMultiplayerPlugin`](crate::P2pMultiplayerPlugin)
//! when the feature is on. The overlays only read [`Session`], [`Roster`] and
//! [`P2pSettings`] and only write [`LobbyRequest`]s, so a game can replace
//! them with its own UI built on the same resources and messages.
//!
//! [`Roster`]: crate::session::Roster
//! [`P2pSettings`]: crate::settings::P2pSettings
//! [`LobbyRequest`]: crate::lobby::LobbyRequest
//!
//! The overlays draw in `bevy_egui`'s [`EguiPrimaryContextPass`], which runs
//! only when the app has a primary egui context (`bevy_egui` makes one for
//! the first camera). An app without a renderer (a test, a dedicated host)
//! gets no egui at all: it never draws and never leaves the lobby by itself.

mod clipboard;
mod fonts;
mod host_away;
mod in_game;
mod lobby;
mod net_stats;
mod upgrade;

use core::time::Duration;

use bevy::prelude::*;
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

use crate::session::{Session, SessionStatus};

pub use net_stats::NetStatsOverlay;
pub use upgrade::{
    DEDICATED_SERVER_URL, LearnMoreCallback, LearnMoreChosen, UpgradeHook, UpgradeRequested,
};

/// How long the "Game ended" notice stays before the overlay goes back to
/// the lobby.
pub const BACK_TO_LOBBY_AFTER: Duration = Duration::from_secs(3);

/// Adds the egui overlays, and `bevy_egui`'s [`EguiPlugin`] if the app has
/// not added it yet.
///
/// Add it after Bevy's renderer (`DefaultPlugins`, say). An app without one
/// (`MinimalPlugins`, a dedicated host, a test) gets no egui and no overlay:
/// `EguiPlugin` cannot be built there. Add `EguiPlugin` yourself before
/// this plugin to configure it; adding it after would add it twice, which
/// Bevy refuses. [`UpgradeRequested`], [`LearnMoreChosen`] and
/// [`UpgradeHook`] exist either way, so game code may use them
/// unconditionally.
pub struct P2pUiPlugin;

impl Plugin for P2pUiPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<UpgradeRequested>()
            .add_message::<LearnMoreChosen>()
            .init_resource::<UpgradeHook>()
            .init_resource::<NetStatsOverlay>()
            .init_resource::<fonts::OverlayFonts>()
            .init_resource::<UiState>();
        let egui_added = app.is_plugin_added::<EguiPlugin>();
        if !egui_added && !has_renderer(app) {
            debug!("no renderer: the multiplayer overlays stay off");
            return;
        }
        if !egui_added {
            app.add_plugins(EguiPlugin::default());
        }
        app.add_systems(
            EguiPrimaryContextPass,
            (
                fonts::ensure_fonts,
                (
                    upgrade::watch_for_upgrade,
                    host_away::back_to_lobby,
                    lobby::lobby_window,
                    in_game::in_game_bar,
                    net_stats::net_stats_overlay,
                    host_away::host_away_modal,
                    host_away::ended_notice,
                    upgrade::upgrade_prompt,
                    upgrade::run_learn_more_hook,
                )
                    .chain()
                    .run_if(fonts::fonts_ready),
            )
                .chain(),
        );
    }
}

/// Whether Bevy's render sub-app exists, which `EguiPlugin` needs (it loads
/// a shader as it is built, and draws through the render world).
fn has_renderer(app: &App) -> bool {
    app.get_sub_app(bevy::render::RenderApp).is_some()
}

/// What the overlays remember between frames.
#[derive(Resource, Default, Debug)]
pub(crate) struct UiState {
    /// The code typed in the lobby's join field.
    code_input: String,
    /// When (real time) the overlay first saw [`SessionStatus::Ended`].
    ended_at: Option<Duration>,
    /// What was copied last and when (real time), for a short "Copied".
    copied: Option<(Copied, Duration)>,
    /// Whether the upgrade prompt is showing.
    upgrade_open: bool,
    /// Learn more was pressed and the [`UpgradeHook`] callback is due.
    learn_more_pending: bool,
}

/// Which of the lobby's copy buttons was pressed last.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Copied {
    Code,
    Link,
}

/// Whole seconds left, rounded up: a countdown shows 1 until it reaches 0.
pub fn secs_left(remaining: Duration) -> u64 {
    remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0)
}

/// The one line a player would read about where the game stands.
///
/// The browser build puts it in the page title, where tests read it.
///
/// ```
/// # use bevy_p2p_multiplayer::{prelude::*, ui::status_line};
/// assert_eq!(status_line(&Session::default()), "Not in a game");
/// ```
pub fn status_line(session: &Session) -> String {
    let code = session
        .code
        .as_ref()
        .map(|code| format!(" {code}"))
        .unwrap_or_default();
    match &session.status {
        SessionStatus::Idle => match &session.last_failure {
            // The reason is what the player needs to read after a failed join.
            Some(failure) => failure.to_string(),
            None => "Not in a game".into(),
        },
        SessionStatus::Connecting => "Connecting…".into(),
        SessionStatus::InLobby => format!("In lobby{code}"),
        SessionStatus::Playing => format!("Playing{code}"),
        SessionStatus::HostAway { remaining } => host_away_text(*remaining),
        SessionStatus::Reconnecting { remaining } => reconnecting_text(*remaining),
        SessionStatus::Ended(reason) => format!("Game ended: {reason}"),
    }
}

/// What a client whose host is gone reads.
fn host_away_text(remaining: Duration) -> String {
    format!(
        "Host disconnected. Waiting {}s to reconnect...",
        secs_left(remaining)
    )
}

/// What a host that lost its links reads.
fn reconnecting_text(remaining: Duration) -> String {
    format!("Connection lost. Reconnecting… {}s", secs_left(remaining))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{EndReason, JoinFailure};

    fn session(status: SessionStatus) -> Session {
        Session {
            code: Some("ABC234".parse().expect("a valid code")),
            status,
            ..Default::default()
        }
    }

    #[test]
    fn status_line_reads_like_the_overlays() {
        let cases = [
            (SessionStatus::Connecting, "Connecting…"),
            (SessionStatus::InLobby, "In lobby ABC234"),
            (SessionStatus::Playing, "Playing ABC234"),
            (
                SessionStatus::HostAway {
                    remaining: Duration::from_millis(26_200),
                },
                "Host disconnected. Waiting 27s to reconnect...",
            ),
            (
                SessionStatus::Reconnecting {
                    remaining: Duration::from_secs(12),
                },
                "Connection lost. Reconnecting… 12s",
            ),
            (
                SessionStatus::Ended(EndReason::HostDidNotReconnect),
                "Game ended: host did not reconnect",
            ),
        ];
        for (status, line) in cases {
            assert_eq!(status_line(&session(status)), line);
        }
    }

    #[test]
    fn idle_shows_the_last_failure() {
        let mut idle = Session::default();
        assert_eq!(status_line(&idle), "Not in a game");
        idle.last_failure = Some(JoinFailure::RoomFull);
        assert_eq!(status_line(&idle), "Room is full");
        idle.last_failure = Some(JoinFailure::ServerUnreachable);
        assert_eq!(status_line(&idle), "Can't reach the game server");
    }

    #[test]
    fn headless_app_with_the_overlays_runs() {
        // No window, no camera, no egui context: the overlays must stay out
        // of the way, and game code may still ask for the upgrade prompt.
        let mut app = crate::testing::test_app(&|_: &mut App| {});
        for _ in 0..3 {
            app.world_mut().write_message(UpgradeRequested);
            app.update();
        }
        assert!(!app.is_plugin_added::<EguiPlugin>());
        assert_eq!(
            app.world().resource::<Session>().status,
            SessionStatus::Idle
        );
    }

    #[test]
    fn countdown_rounds_up() {
        assert_eq!(secs_left(Duration::ZERO), 0);
        assert_eq!(secs_left(Duration::from_millis(1)), 1);
        assert_eq!(secs_left(Duration::from_secs(30)), 30);
        assert_eq!(secs_left(Duration::from_millis(29_001)), 30);
    }
}

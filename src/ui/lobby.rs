//! The lobby window: host or join, then the room's code, link and players.

use core::time::Duration;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::{Copied, UiState};
use crate::{
    lobby::LobbyRequest,
    role::Role,
    session::{Roster, RosterEntry, Session, SessionStatus},
    settings::P2pSettings,
    share_code,
    transport::LinkRoute,
};

/// How long "Copied" shows beside a copy button.
const COPIED_FOR: Duration = Duration::from_secs(2);

/// Size of the share code in the room view: big enough to read aloud from
/// across a room.
const CODE_SIZE: f32 = 40.0;

/// Text size of the lobby's main action.
const BIG_BUTTON_TEXT: f32 = 18.0;

/// The lobby window's narrowest width, so that it does not jump as its
/// content changes.
const MIN_WIDTH: f32 = 320.0;

/// Draws the lobby while the player is not in a running game.
#[expect(
    clippy::too_many_arguments,
    reason = "a Bevy system: each parameter is one resource it reads"
)]
pub(super) fn lobby_window(
    mut contexts: EguiContexts,
    session: Res<Session>,
    roster: Res<Roster>,
    role: Option<Res<Role>>,
    settings: Res<P2pSettings>,
    time: Res<Time<Real>>,
    mut state: ResMut<UiState>,
    mut lobby: MessageWriter<LobbyRequest>,
) {
    // The ended notice has its own window; the lobby comes back after it.
    if !matches!(
        session.status,
        SessionStatus::Idle | SessionStatus::Connecting | SessionStatus::InLobby
    ) {
        return;
    }
    // No primary context (no camera yet, or a headless app): nothing to draw.
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    let now = time.elapsed();
    let is_host = role.as_deref() == Some(&Role::Host);
    egui::Window::new("Play online")
        .id(egui::Id::new("p2p_lobby"))
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .collapsible(false)
        .resizable(false)
        .min_width(MIN_WIDTH)
        .show(ctx, |ui| match session.status {
            SessionStatus::Connecting => connecting(ui, &mut lobby),
            SessionStatus::InLobby => {
                let copy = room(
                    ui,
                    &session,
                    &roster,
                    &settings,
                    is_host,
                    copied_recently(&state, now),
                    &mut lobby,
                );
                if let Some(copied) = copy {
                    state.copied = Some((copied, now));
                }
            }
            _ => host_or_join(ui, &session, &mut state, &mut lobby),
        });
}

/// Which copy button to mark "Copied", if one was pressed lately.
fn copied_recently(state: &UiState, now: Duration) -> Option<Copied> {
    state
        .copied
        .filter(|(_, at)| now.saturating_sub(*at) < COPIED_FOR)
        .map(|(copied, _)| copied)
}

fn host_or_join(
    ui: &mut egui::Ui,
    session: &Session,
    state: &mut UiState,
    lobby: &mut MessageWriter<LobbyRequest>,
) {
    ui.vertical_centered(|ui| {
        let host = egui::Button::new(egui::RichText::new("Host game").size(BIG_BUTTON_TEXT));
        if ui.add(host).clicked() {
            lobby.write(LobbyRequest::Host);
        }
    });
    ui.add_space(4.0);
    ui.separator();
    ui.label("Join with a code:");
    let mut join = false;
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut state.code_input)
                .char_limit(share_code::LENGTH)
                .hint_text("ABC234")
                .font(egui::TextStyle::Monospace)
                .desired_width(90.0),
        );
        if field.changed() {
            // Codes are upper case; showing them so as typed avoids doubt.
            state.code_input = state.code_input.to_uppercase();
        }
        // A single-line field loses focus on Enter: that is the submit.
        let entered = field.lost_focus() && ui.ctx().input(|i| i.key_pressed(egui::Key::Enter));
        let typed = !state.code_input.trim().is_empty();
        join = (ui.add_enabled(typed, egui::Button::new("Join")).clicked() || entered) && typed;
    });
    if join {
        lobby.write(LobbyRequest::Join(state.code_input.clone()));
    }
    if let Some(failure) = &session.last_failure {
        ui.colored_label(ui.visuals().error_fg_color, failure.to_string());
    }
}

fn connecting(ui: &mut egui::Ui, lobby: &mut MessageWriter<LobbyRequest>) {
    ui.horizontal(|ui| {
        ui.add(egui::Spinner::new());
        ui.label("Connecting…");
    });
    if ui.button("Cancel").clicked() {
        lobby.write(LobbyRequest::Leave);
    }
}

/// The room before the game: code, link, players, Start or a wait.
/// Returns the copy button pressed, if any.
fn room(
    ui: &mut egui::Ui,
    session: &Session,
    roster: &Roster,
    settings: &P2pSettings,
    is_host: bool,
    copied: Option<Copied>,
    lobby: &mut MessageWriter<LobbyRequest>,
) -> Option<Copied> {
    let mut pressed = None;
    if let Some(code) = &session.code {
        ui.vertical_centered(|ui| {
            ui.label("Share this code with your friends:");
            ui.label(
                egui::RichText::new(code.as_str())
                    .monospace()
                    .size(CODE_SIZE)
                    .strong(),
            );
        });
        ui.horizontal(|ui| {
            if ui.button("Copy code").clicked() {
                match super::clipboard::copy(code.as_str()) {
                    Ok(()) => pressed = Some(Copied::Code),
                    Err(why) => warn!("could not copy the code: {why}"),
                }
            }
            if let Some(link) = &session.share_link
                && ui.button("Copy link").clicked()
            {
                match super::clipboard::copy(link) {
                    Ok(()) => pressed = Some(Copied::Link),
                    Err(why) => warn!("could not copy the link: {why}"),
                }
            }
            if let Some(which) = pressed.or(copied) {
                ui.weak(match which {
                    Copied::Code => "Code copied",
                    Copied::Link => "Link copied",
                });
            }
        });
        if let Some(link) = &session.share_link {
            ui.monospace(link);
        }
    }
    ui.separator();
    ui.label(format!(
        "Players ({}/{})",
        roster.players.len(),
        settings.max_players
    ));
    for entry in &roster.players {
        ui.horizontal(|ui| {
            ui.label(player_name(entry));
            ui.weak(ping_text(entry));
        });
    }
    ui.separator();
    ui.horizontal(|ui| {
        if is_host {
            if ui.button("Start").clicked() {
                lobby.write(LobbyRequest::Start);
            }
        } else {
            ui.label("Waiting for the host to start");
        }
        if ui.button("Leave").clicked() {
            lobby.write(LobbyRequest::Leave);
        }
    });
    pressed
}

/// "Player 2 (you)": slots count from 1 for players.
pub(super) fn player_name(entry: &RosterEntry) -> String {
    let number = entry.slot.index() + 1;
    match (entry.is_local, entry.is_host) {
        (true, true) => format!("Player {number} (you, host)"),
        (true, false) => format!("Player {number} (you)"),
        (false, true) => format!("Player {number} (host)"),
        (false, false) => format!("Player {number}"),
    }
}

/// A player's ping and route; the host has none of its own, it is the
/// reference.
pub(super) fn ping_text(entry: &RosterEntry) -> String {
    if entry.is_host {
        "host".into()
    } else {
        format!("{} ms{}", entry.ping_ms, route_text(entry.route))
    }
}

/// " · direct", " · relayed", or nothing while unknown.
pub(super) fn route_text(route: Option<LinkRoute>) -> String {
    route
        .map(|route| format!(" · {}", route_name(route)))
        .unwrap_or_default()
}

/// How every overlay names a route.
pub(super) fn route_name(route: LinkRoute) -> &'static str {
    match route {
        LinkRoute::Direct => "direct",
        LinkRoute::Relayed => "relayed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::PlayerSlot;

    #[test]
    fn names_and_pings_read_naturally() {
        let host = RosterEntry {
            slot: PlayerSlot::HOST,
            ping_ms: 0,
            route: None,
            is_host: true,
            is_local: true,
        };
        let client = RosterEntry {
            slot: PlayerSlot(2),
            ping_ms: 48,
            route: Some(LinkRoute::Relayed),
            is_host: false,
            is_local: false,
        };
        assert_eq!(player_name(&host), "Player 1 (you, host)");
        assert_eq!(ping_text(&host), "host");
        assert_eq!(player_name(&client), "Player 3");
        assert_eq!(ping_text(&client), "48 ms · relayed");
        let direct = RosterEntry {
            route: Some(LinkRoute::Direct),
            ..client
        };
        assert_eq!(ping_text(&direct), "48 ms · direct");
        let unknown = RosterEntry {
            route: None,
            ..client
        };
        assert_eq!(ping_text(&unknown), "48 ms");
    }
}

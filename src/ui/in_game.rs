//! The bar at the top of the screen while the game runs: code, players,
//! ping, Leave.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use crate::{
    lobby::LobbyRequest,
    session::{Roster, Session, SessionStatus},
    settings::P2pSettings,
    transport::LinkRoute,
    ui::{NetStatsOverlay, lobby::route_text},
};

/// Draws the in-game bar while [`SessionStatus::Playing`].
pub(super) fn in_game_bar(
    mut contexts: EguiContexts,
    session: Res<Session>,
    roster: Res<Roster>,
    settings: Res<P2pSettings>,
    mut overlay: ResMut<NetStatsOverlay>,
    mut lobby: MessageWriter<LobbyRequest>,
) {
    if session.status != SessionStatus::Playing {
        return;
    }
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    // An area, not a window: it should sit out of the game's way and not be
    // dragged or closed.
    egui::Area::new(egui::Id::new("p2p_in_game"))
        .anchor(egui::Align2::CENTER_TOP, [0.0, 8.0])
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    if let Some(code) = &session.code {
                        ui.monospace(code.as_str());
                        ui.separator();
                    }
                    ui.label(players_text(roster.players.len(), settings.max_players));
                    ui.separator();
                    // The ping opens the network overlay, for players
                    // who do not know its key.
                    let ping = ui
                        .add(egui::Button::new(ping_text(&roster)).small().frame(false))
                        .on_hover_text("Network details (F3)");
                    if ping.clicked() {
                        overlay.shown = !overlay.shown;
                    }
                    ui.separator();
                    if ui.small_button("Leave").clicked() {
                        lobby.write(LobbyRequest::Leave);
                    }
                });
            });
        });
}

/// "3/6 players".
fn players_text(players: usize, capacity: usize) -> String {
    format!("{players}/{capacity} players")
}

/// This player's ping and route, or that it is the host (which has none of
/// its own) with how many of its links go through a relay.
fn ping_text(roster: &Roster) -> String {
    match roster.players.iter().find(|entry| entry.is_local) {
        Some(me) if me.is_host => {
            let relayed = roster
                .players
                .iter()
                .filter(|entry| entry.route == Some(LinkRoute::Relayed))
                .count();
            match relayed {
                0 => "Ping: host".into(),
                n => format!("Ping: host · {n} relayed"),
            }
        }
        Some(me) => format!("Ping: {} ms{}", me.ping_ms, route_text(me.route)),
        None => "Ping: -".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{PlayerSlot, RosterEntry};

    fn entry(slot: u8, ping_ms: u16, is_local: bool) -> RosterEntry {
        RosterEntry {
            slot: PlayerSlot(slot),
            ping_ms,
            route: None,
            is_host: slot == 0,
            is_local,
        }
    }

    #[test]
    fn bar_shows_own_ping_or_host() {
        let client = Roster {
            players: vec![entry(0, 0, false), entry(1, 31, true)],
        };
        assert_eq!(ping_text(&client), "Ping: 31 ms");
        let mut relayed = client.clone();
        relayed.players[1].route = Some(LinkRoute::Relayed);
        assert_eq!(ping_text(&relayed), "Ping: 31 ms · relayed");
        let host = Roster {
            players: vec![entry(0, 0, true), entry(1, 31, false)],
        };
        assert_eq!(ping_text(&host), "Ping: host");
        let mut host_with_relay = host.clone();
        host_with_relay.players[1].route = Some(LinkRoute::Relayed);
        assert_eq!(ping_text(&host_with_relay), "Ping: host · 1 relayed");
        assert_eq!(ping_text(&Roster::default()), "Ping: -");
        assert_eq!(players_text(2, 6), "2/6 players");
    }
}

//! The network overlay, toggled with F3 (by convention; see
//! [`NetStatsOverlay`]): every link of this app as the transport measures
//! it: ping, jitter, loss, bytes per second up and down, and whether it is
//! direct or relayed. A client has one link, to its host; the host has one
//! per client.

use core::time::Duration;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use crate::{
    role::Role,
    session::{Player, Session, SessionStatus},
    transport::{
        PeerId,
        bridge::stats::{LinkStat, LinkStats},
    },
    ui::lobby::route_name,
};

/// Whether the network overlay shows, and the key that toggles it.
///
/// A game may set `shown` itself (from its own menu, say), or set `key` to
/// `None` to keep players from opening it.
#[derive(Resource, Clone, Debug, PartialEq, Eq)]
pub struct NetStatsOverlay {
    /// The key that shows and hides the overlay (F3 by default).
    pub key: Option<egui::Key>,
    /// Whether it shows now.
    pub shown: bool,
}

impl Default for NetStatsOverlay {
    fn default() -> Self {
        Self {
            key: Some(egui::Key::F3),
            shown: false,
        }
    }
}

/// Toggles the overlay on its key and draws it while in a room.
pub(super) fn net_stats_overlay(
    mut contexts: EguiContexts,
    mut overlay: ResMut<NetStatsOverlay>,
    session: Res<Session>,
    role: Option<Res<Role>>,
    links: Res<LinkStats>,
    players: Query<&Player>,
) {
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    // Not while the player types (a share code, a chat line).
    if let Some(key) = overlay.key
        && !ctx.text_edit_focused()
        && ctx.input(|input| input.key_pressed(key))
    {
        overlay.shown = !overlay.shown;
    }
    let in_room = matches!(
        session.status,
        SessionStatus::InLobby
            | SessionStatus::Playing
            | SessionStatus::HostAway { .. }
            | SessionStatus::Reconnecting { .. }
    );
    if !overlay.shown || !in_room {
        return;
    }
    let is_host = role.as_deref() == Some(&Role::Host);
    let mut rows: Vec<(String, LinkStat)> = links
        .iter()
        .map(|(peer, stat)| (link_name(is_host, peer, &players), *stat))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    egui::Window::new("Network")
        .anchor(egui::Align2::RIGHT_TOP, [-8.0, 48.0])
        .resizable(false)
        .collapsible(false)
        .show(ctx, |ui| {
            if rows.is_empty() {
                ui.label("No links yet");
                return;
            }
            egui::Grid::new("p2p_net_stats")
                .striped(true)
                .spacing([12.0, 4.0])
                .show(ui, |ui| {
                    for header in HEADERS {
                        ui.strong(header);
                    }
                    ui.end_row();
                    for (name, stat) in &rows {
                        ui.label(name);
                        for cell in cells(stat) {
                            ui.monospace(cell);
                        }
                        ui.end_row();
                    }
                });
            if !is_host {
                // The bar's ping is the host's timing of this link, which
                // every player sees; this one is timed here, and includes
                // this app's own delays (a browser tab answers between
                // frames).
                ui.weak("Timed by this app; the bar shows the host's timing.");
            }
        });
}

const HEADERS: [&str; 7] = ["Link", "Ping", "Jitter", "Loss", "Up", "Down", "Route"];

/// "Host" on a client; on the host, the player the link's peer plays.
fn link_name(is_host: bool, peer: PeerId, players: &Query<&Player>) -> String {
    if !is_host {
        return "Host".into();
    }
    let owner = Some(peer.0.as_u128());
    players
        .iter()
        .find(|player| player.owner == owner)
        .map_or_else(
            || "Joining".into(),
            |player| format!("Player {}", player.slot.index() + 1),
        )
}

/// A link's figures as the overlay prints them, after its name.
fn cells(stat: &LinkStat) -> [String; 6] {
    [
        millis(stat.rtt),
        millis(stat.jitter),
        format!("{:.0} %", stat.loss * 100.0),
        rate(stat.sent_bps),
        rate(stat.received_bps),
        stat.route.map_or("-", route_name).into(),
    ]
}

/// Milliseconds, with a tenth below 10 ms where it matters.
fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Bytes per second, in B/s or kB/s.
fn rate(bytes_per_second: f64) -> String {
    if bytes_per_second < 1_000.0 {
        format!("{bytes_per_second:.0} B/s")
    } else {
        format!("{:.1} kB/s", bytes_per_second / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::LinkRoute;

    #[test]
    fn a_link_reads_as_a_player_would_want_it() {
        let stat = LinkStat {
            rtt: Duration::from_micros(2_340),
            jitter: Duration::from_millis(31),
            loss: 0.12,
            sent_bps: 640.0,
            received_bps: 5_160.0,
            route: Some(LinkRoute::Relayed),
        };
        assert_eq!(
            cells(&stat),
            ["2.3 ms", "31 ms", "12 %", "640 B/s", "5.2 kB/s", "relayed"].map(String::from)
        );
        let unknown = LinkStat::default();
        assert_eq!(cells(&unknown)[5], "-");
        assert_eq!(cells(&unknown)[0], "0.0 ms");
    }
}

//! When the game stops: the host-away countdown, the host's own reconnect,
//! and the "Game ended" notice that leads back to the lobby.

use core::time::Duration;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::{BACK_TO_LOBBY_AFTER, UiState, host_away_text, reconnecting_text, secs_left};
use crate::{
    lobby::LobbyRequest,
    session::{Session, SessionStatus},
};

/// How often a countdown redraws when nothing else asks for a frame (apps
/// that only redraw on input): often enough that no second is skipped.
const COUNTDOWN_REFRESH: Duration = Duration::from_millis(250);

/// Goes back to the lobby [`BACK_TO_LOBBY_AFTER`] the game ended.
///
/// Real time, so that a paused or slowed virtual clock does not hold the
/// player on the notice.
pub(super) fn back_to_lobby(
    session: Res<Session>,
    mut state: ResMut<UiState>,
    time: Res<Time<Real>>,
    mut lobby: MessageWriter<LobbyRequest>,
) {
    let now = time.elapsed();
    if !matches!(session.status, SessionStatus::Ended(_)) {
        state.ended_at = None;
        return;
    }
    match state.ended_at {
        None => state.ended_at = Some(now),
        Some(at) if now.saturating_sub(at) >= BACK_TO_LOBBY_AFTER => {
            state.ended_at = None;
            // Leaving an ended game: back to idle, the old room forgotten.
            lobby.write(LobbyRequest::Leave);
        }
        Some(_) => {}
    }
}

/// A modal over the paused game while the host is away, or while this host
/// takes its seat back.
pub(super) fn host_away_modal(
    mut contexts: EguiContexts,
    session: Res<Session>,
    mut lobby: MessageWriter<LobbyRequest>,
) {
    let text = match session.status {
        SessionStatus::HostAway { remaining } => host_away_text(remaining),
        SessionStatus::Reconnecting { remaining } => reconnecting_text(remaining),
        _ => return,
    };
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    ctx.request_repaint_after(COUNTDOWN_REFRESH);
    egui::Modal::new(egui::Id::new("p2p_host_away")).show(ctx, |ui| {
        ui.vertical_centered(|ui| {
            ui.add(egui::Spinner::new());
            ui.heading(text);
            // Waiting is the default; a player may still give up early.
            if ui.button("Leave").clicked() {
                lobby.write(LobbyRequest::Leave);
            }
        });
    });
}

/// "Game ended: host did not reconnect", with the time left before the
/// lobby returns and a button to return at once.
pub(super) fn ended_notice(
    mut contexts: EguiContexts,
    session: Res<Session>,
    mut state: ResMut<UiState>,
    time: Res<Time<Real>>,
    mut lobby: MessageWriter<LobbyRequest>,
) {
    let SessionStatus::Ended(reason) = &session.status else {
        return;
    };
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    let shown_for = state
        .ended_at
        .map_or(Duration::ZERO, |at| time.elapsed().saturating_sub(at));
    let left = secs_left(BACK_TO_LOBBY_AFTER.saturating_sub(shown_for));
    ctx.request_repaint_after(COUNTDOWN_REFRESH);
    let title = format!("Game ended: {reason}");
    let mut back = false;
    egui::Window::new("Game ended")
        .id(egui::Id::new("p2p_ended"))
        .title_bar(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            ui.vertical_centered(|ui| {
                ui.heading(title);
                ui.weak(format!("Back to the lobby in {left}s"));
                back = ui.button("Back to lobby").clicked();
            });
        });
    if back {
        state.ended_at = None;
        lobby.write(LobbyRequest::Leave);
    }
}

#[cfg(test)]
mod tests {
    use bevy::time::TimeUpdateStrategy;

    use super::*;
    use crate::session::SessionSystems;

    #[test]
    fn ended_goes_back_to_the_lobby_after_three_seconds() {
        use crate::{
            lobby::enter_room_with,
            role::Role,
            testing::{peer_id, test_app},
            transport::{MemoryNetwork, Transport},
        };
        let mut app = test_app(&|app: &mut App| {
            app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                500,
            )))
            .add_systems(Update, back_to_lobby.before(SessionSystems::Drive));
        });
        // A host without a token whose links close: its game ends.
        let network = MemoryNetwork::new(1);
        let links = network.join(peer_id(1));
        enter_room_with(
            app.world_mut(),
            Role::Host,
            "ABC234".parse().expect("a valid code"),
            None,
            Transport::new(links),
        );
        network.sever(peer_id(1));
        app.update();
        assert_eq!(
            app.world().resource::<Session>().share_link.as_deref(),
            Some("http://127.0.0.1:3536/play/ABC234")
        );
        // The first update starts the clock; 3 s pass over the next six.
        for _ in 0..6 {
            app.update();
            assert!(matches!(
                app.world().resource::<Session>().status,
                SessionStatus::Ended(_)
            ));
        }
        app.update();
        let session = app.world().resource::<Session>();
        assert_eq!(session.status, SessionStatus::Idle);
        assert_eq!(session.code, None);
        assert_eq!(session.share_link, None);
    }
}

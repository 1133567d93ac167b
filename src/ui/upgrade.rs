//! The upgrade prompt: a room holds six, a dedicated server holds more.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use bevy_p2p_protocol::room;

use super::UiState;
use crate::session::{JoinFailed, JoinFailure};

/// Where "Learn more" leads by default: the README's section on running the
/// game as a headless dedicated host.
pub const DEDICATED_SERVER_URL: &str =
    "https://github.com/bevy-p2p/bevy_p2p_multiplayer#dedicated-host";

/// Asks the overlay to show the upgrade prompt.
///
/// The overlay writes nothing of this itself: it opens the prompt on its own
/// when a join fails with [`JoinFailure::RoomFull`]. Write it when a host
/// tries to go past the room's capacity (an "invite" or "add player" action
/// in your game, say).
///
/// ```
/// # use bevy::prelude::*;
/// # use bevy_p2p_multiplayer::prelude::*;
/// fn invite(
///     roster: Res<Roster>,
///     settings: Res<P2pSettings>,
///     mut upgrade: MessageWriter<UpgradeRequested>,
/// ) {
///     if roster.players.len() >= settings.max_players {
///         upgrade.write(UpgradeRequested);
///     }
/// }
/// ```
#[derive(Message, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpgradeRequested;

/// The player pressed "Learn more" on the upgrade prompt.
///
/// Written whatever [`UpgradeHook`] does, so a game can also react (count
/// it, show its own page, ...).
#[derive(Message, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LearnMoreChosen;

/// What "Learn more" on the upgrade prompt does.
///
/// With a callback, "Learn more" runs it (with the whole [`World`], after the
/// overlay has drawn, during this resource's own absence: the callback cannot
/// reach `UpgradeHook` itself). Without one, it opens
/// [`learn_more_url`](Self::learn_more_url) in a new browser tab through
/// egui, which `bevy_egui` follows when built with its `open_url` feature.
/// With neither, it only writes [`LearnMoreChosen`].
///
/// The default opens [`DEDICATED_SERVER_URL`]. Insert your own before or
/// after adding the plugin:
///
/// ```
/// # use bevy::prelude::*;
/// # use bevy_p2p_multiplayer::prelude::*;
/// # let mut app = App::new();
/// app.insert_resource(UpgradeHook::url("https://example.com/servers"));
/// app.insert_resource(UpgradeHook::callback(|world: &mut World| {
///     info!("the player wants a bigger room");
/// }));
/// ```
#[derive(Resource)]
pub struct UpgradeHook {
    /// The page to open when there is no callback.
    pub learn_more_url: Option<String>,
    /// Runs instead of opening the page.
    pub on_learn_more: Option<LearnMoreCallback>,
}

/// A callback for [`UpgradeHook::on_learn_more`].
pub type LearnMoreCallback = Box<dyn Fn(&mut World) + Send + Sync>;

impl UpgradeHook {
    /// "Learn more" opens this page.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            learn_more_url: Some(url.into()),
            on_learn_more: None,
        }
    }

    /// "Learn more" runs this.
    pub fn callback(on_learn_more: impl Fn(&mut World) + Send + Sync + 'static) -> Self {
        Self {
            learn_more_url: None,
            on_learn_more: Some(Box::new(on_learn_more)),
        }
    }
}

impl Default for UpgradeHook {
    fn default() -> Self {
        Self::url(DEDICATED_SERVER_URL)
    }
}

impl core::fmt::Debug for UpgradeHook {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UpgradeHook")
            .field("learn_more_url", &self.learn_more_url)
            .field("on_learn_more", &self.on_learn_more.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Opens the prompt for a refused join or an [`UpgradeRequested`].
pub(super) fn watch_for_upgrade(
    mut state: ResMut<UiState>,
    mut failures: MessageReader<JoinFailed>,
    mut requests: MessageReader<UpgradeRequested>,
) {
    let room_full = failures
        .read()
        .any(|failed| failed.reason == JoinFailure::RoomFull);
    // Read all of them either way, so that none opens the prompt later.
    let requested = requests.read().count() > 0;
    if room_full || requested {
        state.upgrade_open = true;
    }
}

/// The prompt itself: what a dedicated server offers, Learn more, Maybe later.
pub(super) fn upgrade_prompt(
    mut contexts: EguiContexts,
    mut state: ResMut<UiState>,
    hook: Res<UpgradeHook>,
    mut chosen: MessageWriter<LearnMoreChosen>,
) {
    if !state.upgrade_open {
        return;
    }
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    let mut learn_more = false;
    let mut later = false;
    let modal = egui::Modal::new(egui::Id::new("p2p_upgrade")).show(ctx, |ui| {
        ui.set_max_width(360.0);
        ui.heading(upgrade_heading());
        ui.label(upgrade_text());
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            learn_more = ui.button("Learn more").clicked();
            later = ui.button("Maybe later").clicked();
        });
    });
    if learn_more {
        chosen.write(LearnMoreChosen);
        if hook.on_learn_more.is_some() {
            // The callback needs the world: `run_learn_more_hook` runs next.
            state.learn_more_pending = true;
        } else if let Some(url) = &hook.learn_more_url {
            ctx.open_url(egui::OpenUrl::new_tab(url));
        }
    }
    // Escape or a click beside the prompt means "later" too.
    if learn_more || later || modal.should_close() {
        state.upgrade_open = false;
    }
}

/// Runs the [`UpgradeHook`] callback after "Learn more" was pressed.
pub(super) fn run_learn_more_hook(world: &mut World) {
    if !core::mem::take(&mut world.resource_mut::<UiState>().learn_more_pending) {
        return;
    }
    world.resource_scope(|world, hook: Mut<UpgradeHook>| {
        if let Some(on_learn_more) = &hook.on_learn_more {
            on_learn_more(world);
        }
    });
}

/// The prompt's heading: the protocol's, as the server's share page says it.
fn upgrade_heading() -> String {
    room::upgrade_heading()
}

/// The prompt's text.
fn upgrade_text() -> String {
    room::upgrade_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        let mut app = App::new();
        app.add_message::<JoinFailed>()
            .add_message::<UpgradeRequested>()
            .init_resource::<UiState>()
            .add_systems(Update, (watch_for_upgrade, run_learn_more_hook).chain());
        app
    }

    #[test]
    fn full_room_and_requests_open_the_prompt() {
        let mut app = app();
        app.world_mut().write_message(JoinFailed {
            reason: JoinFailure::RoomNotFound,
        });
        app.update();
        assert!(!app.world().resource::<UiState>().upgrade_open);

        app.world_mut().write_message(JoinFailed {
            reason: JoinFailure::RoomFull,
        });
        app.update();
        assert!(app.world().resource::<UiState>().upgrade_open);

        app.world_mut().resource_mut::<UiState>().upgrade_open = false;
        app.world_mut().write_message(UpgradeRequested);
        app.update();
        assert!(app.world().resource::<UiState>().upgrade_open);
    }

    #[test]
    fn the_prompt_names_the_protocols_room_size() {
        assert_eq!(
            upgrade_heading(),
            "Upgrade to a dedicated server: 7-100 players"
        );
        assert!(upgrade_text().starts_with("Peer-to-peer rooms hold up to 6 players."));
    }

    #[derive(Resource, Default)]
    struct Called(u32);

    #[test]
    fn learn_more_runs_the_callback_once() {
        let mut app = app();
        app.init_resource::<Called>()
            .insert_resource(UpgradeHook::callback(|world: &mut World| {
                world.resource_mut::<Called>().0 += 1;
            }));
        app.world_mut().resource_mut::<UiState>().learn_more_pending = true;
        app.update();
        app.update();
        assert_eq!(app.world().resource::<Called>().0, 1);
    }

    #[test]
    fn default_hook_points_at_the_dedicated_server_docs() {
        let hook = UpgradeHook::default();
        assert_eq!(hook.learn_more_url.as_deref(), Some(DEDICATED_SERVER_URL));
        assert!(hook.on_learn_more.is_none());
    }
}

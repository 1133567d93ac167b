//! The browser side: options from the URL, the server from the page's
//! origin, the status in the page title (tests read it there), and the
//! warning before a host with players closes the tab.

use std::sync::atomic::{AtomicBool, Ordering};

use bevy::prelude::*;
use bevy_p2p_multiplayer::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};

use crate::options::Options;

/// Set while closing this tab would drop other players.
static OTHERS_IN_GAME: AtomicBool = AtomicBool::new(false);

/// The options the page's URL asks for.
pub fn options() -> Options {
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return Options::default();
    };
    Options::from_url(
        &location.pathname().unwrap_or_default(),
        &location.search().unwrap_or_default(),
    )
}

/// The signaling server that served this page: same host, `ws` or `wss`.
pub fn signaling_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}", location.host().ok()?))
}

/// Warns before the tab closes while this host has players.
pub fn install_close_warning() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let warn = Closure::<dyn FnMut(web_sys::BeforeUnloadEvent)>::new(
        |event: web_sys::BeforeUnloadEvent| {
            if OTHERS_IN_GAME.load(Ordering::Relaxed) {
                event.prevent_default();
                // Browsers show their own words; this is what older ones print.
                event.set_return_value("Other players are still in the game");
            }
        },
    );
    let _ = window.add_event_listener_with_callback("beforeunload", warn.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    warn.forget();
}

/// `Arena | In lobby QMZPMX | players=1 | code=QMZPMX | link=relayed`: the
/// status a player reads, then fields for scripts and tests (`code=`
/// whenever there is one, `link=` once this client's link to its host is
/// known to be `direct` or `relayed`).
fn page_title(session: &Session, roster: &Roster) -> String {
    let mut title = format!(
        "Arena | {} | players={}",
        bevy_p2p_multiplayer::ui::status_line(session),
        roster.players.len()
    );
    if let Some(code) = &session.code {
        title.push_str(&format!(" | code={code}"));
    }
    let me = roster.players.iter().find(|entry| entry.is_local);
    match me.and_then(|me| me.route) {
        Some(LinkRoute::Direct) => title.push_str(" | link=direct"),
        Some(LinkRoute::Relayed) => title.push_str(" | link=relayed"),
        None => {}
    }
    title
}

/// Keeps the close warning and the page title up to date.
pub fn reflect_session(session: Res<Session>, role: Option<Res<Role>>, roster: Res<Roster>) {
    let hosting_others = role.as_deref() == Some(&Role::Host) && roster.players.len() > 1;
    OTHERS_IN_GAME.store(hosting_others, Ordering::Relaxed);
    if !session.is_changed() && !roster.is_changed() {
        return;
    }
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&page_title(&session, &roster));
    }
}

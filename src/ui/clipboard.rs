//! Copying the share code and link to the system clipboard.
//!
//! `bevy_egui`'s own clipboard support would also build Wayland's on Linux,
//! which needs system libraries; the overlays copy by themselves instead:
//! X11 through `arboard` natively, `navigator.clipboard` in the browser.

/// Puts `text` on the clipboard; the error says why it could not.
#[cfg(not(target_family = "wasm"))]
pub fn copy(text: &str) -> Result<(), String> {
    use std::sync::{Mutex, OnceLock, PoisonError};
    // On X11 the copying program serves the clipboard for as long as it
    // holds it, so the clipboard handle lives as long as the game.
    static CLIPBOARD: OnceLock<Mutex<Option<arboard::Clipboard>>> = OnceLock::new();
    let slot = CLIPBOARD.get_or_init(|| Mutex::new(arboard::Clipboard::new().ok()));
    let mut clipboard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let clipboard = clipboard
        .as_mut()
        .ok_or_else(|| "no clipboard on this system".to_string())?;
    clipboard.set_text(text).map_err(|e| e.to_string())
}

/// Puts `text` on the clipboard; the error says why it could not.
#[cfg(target_family = "wasm")]
pub fn copy(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no browser window")?;
    // The browser answers later; a refusal only shows in its console.
    let _ = window.navigator().clipboard().write_text(text);
    Ok(())
}

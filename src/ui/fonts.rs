//! A font for the overlays when the app has none.
//!
//! `bevy_egui`'s `default_fonts` feature embeds four fonts (1.4 MB, about
//! 0.78 MB of a gzipped browser download): Ubuntu Light, Hack for
//! monospace, and two emoji fonts. The overlays need one: this crate does
//! not turn that feature on, and when the app's egui has no font at all, it
//! installs Ubuntu Light for both families before anything is drawn. A game
//! that turns `default_fonts` on (or sets its own fonts) keeps its fonts.

use bevy::prelude::*;
use bevy_egui::{
    EguiContexts,
    egui::{self, FontData, FontDefinitions, FontFamily},
};

/// Whether the primary context has fonts to draw the overlays with.
#[derive(Resource, Default, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OverlayFonts {
    /// Not looked at yet.
    #[default]
    Unknown,
    /// Installed this pass: egui takes fonts at the start of a pass, so the
    /// overlays wait for the next one.
    Installing,
    /// The context can draw text.
    Ready,
}

/// The font's name in egui's definitions.
const FALLBACK: &str = "p2p-overlay-ubuntu-light";

/// Installs the fallback font into a context that has no font, and marks
/// the overlays ready once it is in.
pub(super) fn ensure_fonts(mut contexts: EguiContexts, mut fonts: ResMut<OverlayFonts>) {
    if *fonts == OverlayFonts::Ready {
        return;
    }
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    if has_text_fonts(ctx) {
        *fonts = OverlayFonts::Ready;
        return;
    }
    if *fonts == OverlayFonts::Unknown {
        debug!("the app's egui has no fonts: installing the overlays' own");
        ctx.set_fonts(fallback_fonts());
        *fonts = OverlayFonts::Installing;
    }
}

/// Whether both families the overlays write in have a font.
fn has_text_fonts(ctx: &egui::Context) -> bool {
    ctx.fonts(|fonts| {
        let families = &fonts.definitions().families;
        [FontFamily::Proportional, FontFamily::Monospace]
            .iter()
            .all(|family| families.get(family).is_some_and(|names| !names.is_empty()))
    })
}

fn fallback_fonts() -> FontDefinitions {
    let mut definitions = FontDefinitions::empty();
    definitions.font_data.insert(
        FALLBACK.into(),
        FontData::from_static(epaint_default_fonts::UBUNTU_LIGHT).into(),
    );
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        definitions
            .families
            .insert(family, vec![FALLBACK.to_owned()]);
    }
    definitions
}

/// Run condition: the overlays can draw text.
pub(super) fn fonts_ready(fonts: Res<OverlayFonts>) -> bool {
    *fonts == OverlayFonts::Ready
}

//! The preview cards a chat app shows for a share link: a 1200x630 PNG
//! (the size Open Graph and Twitter's large card expect) with the game's
//! title and description and, for a room, its code, player count and
//! state. Drawn here, pixel by pixel, with the built-in [`font`]: no font
//! files, no raster library, only the `png` encoder.

use super::RoomStatus;
use super::font;

/// The card's width in pixels.
pub(crate) const WIDTH: u32 = 1200;
/// The card's height in pixels.
pub(crate) const HEIGHT: u32 = 630;

/// An RGB colour.
type Rgb = [u8; 3];

/// The page's colours (web/index.html's background and text), and accents.
const BACKGROUND: Rgb = [0x0d, 0x0d, 0x12];
const PANEL: Rgb = [0x17, 0x17, 0x22];
const GRID: Rgb = [0x16, 0x16, 0x20];
const TEXT: Rgb = [0xcc, 0xcc, 0xdd];
const BRIGHT: Rgb = [0xf4, 0xf4, 0xfa];
const MUTED: Rgb = [0x80, 0x80, 0x96];
const ACCENT: Rgb = [0xff, 0xc0, 0x4d];
const GREEN: Rgb = [0x4a, 0xde, 0x80];
const BLUE: Rgb = [0x60, 0xa5, 0xfa];
const ORANGE: Rgb = [0xfb, 0x92, 0x3c];
const RED: Rgb = [0xf8, 0x71, 0x71];

/// Left and right margin.
const MARGIN: usize = 80;

/// What one card shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CardView {
    pub(crate) title: String,
    pub(crate) description: String,
    /// A room's card, or the game's own (`None`).
    pub(crate) room: Option<RoomCard>,
    /// The server's room size, for the game's own card.
    pub(crate) capacity: usize,
}

/// A room, as its card shows it: what the card cache keys on besides the
/// game's (fixed) title and description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RoomCard {
    pub(crate) code: String,
    pub(crate) players: usize,
    pub(crate) capacity: usize,
    pub(crate) status: RoomStatus,
}

/// The colour and words of a room's state on the card and the page.
pub(crate) fn status_colour(status: RoomStatus) -> Rgb {
    match status {
        RoomStatus::Waiting | RoomStatus::WaitingForHost => GREEN,
        RoomStatus::Playing => BLUE,
        RoomStatus::HostAway => ORANGE,
        RoomStatus::Full => RED,
    }
}

/// An RGB image being drawn.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        let mut canvas = Self {
            pixels: BACKGROUND
                .repeat(WIDTH as usize * HEIGHT as usize)
                .into_iter()
                .collect(),
        };
        // A faint dotted floor, the arena's.
        for y in (15..HEIGHT as usize).step_by(30) {
            for x in (15..WIDTH as usize).step_by(30) {
                canvas.fill(x, y, 3, 3, GRID);
            }
        }
        canvas
    }

    /// Fills a rectangle, clipped to the canvas.
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, colour: Rgb) {
        let (width, height) = (WIDTH as usize, HEIGHT as usize);
        for row in y.min(height)..(y + h).min(height) {
            let start = (row * width + x.min(width)) * 3;
            let end = (row * width + (x + w).min(width)) * 3;
            for pixel in self.pixels[start..end].chunks_exact_mut(3) {
                pixel.copy_from_slice(&colour);
            }
        }
    }

    /// A rectangle with its corners cut by `r` pixels (a rounded look).
    fn panel(&mut self, x: usize, y: usize, w: usize, h: usize, r: usize, colour: Rgb) {
        for step in 0..r {
            // A quarter circle, row by row.
            let dy = r - step;
            let inset = r - ((r * r - dy * dy) as f64).sqrt() as usize;
            self.fill(x + inset, y + step, w - 2 * inset, 1, colour);
            self.fill(x + inset, y + h - 1 - step, w - 2 * inset, 1, colour);
        }
        self.fill(x, y + r, w, h - 2 * r, colour);
    }

    /// A disc of radius `r` around `(cx, cy)`, drawn only above row `until`.
    fn disc(&mut self, (cx, cy): (usize, usize), r: usize, until: usize, colour: Rgb) {
        for row in cy.saturating_sub(r)..=(cy + r).min(until.saturating_sub(1)) {
            let dy = row.abs_diff(cy) as f64;
            let half = ((r * r) as f64 - dy * dy).max(0.0).sqrt().round() as usize;
            self.fill(cx.saturating_sub(half), row, 2 * half + 1, 1, colour);
        }
    }

    /// Two people, `size` pixels tall, their top-left corner at `(x, y)`:
    /// the players icon.
    fn people(&mut self, x: usize, y: usize, size: usize) {
        let bottom = y + size;
        for (cx, colour, scale) in [(x + size * 9 / 10, MUTED, 8), (x + size / 2, TEXT, 10)] {
            let head = size * scale / 10 / 4;
            let body = size * scale / 10 / 2;
            let head_y = bottom - body - head - size / 10;
            // A dark ring keeps the front one apart from the back one.
            self.disc((cx, head_y), head + 4, bottom, PANEL);
            self.disc((cx, bottom), body + 4, bottom, PANEL);
            self.disc((cx, head_y), head, bottom, colour);
            self.disc((cx, bottom), body, bottom, colour);
        }
    }

    /// Draws `text` with the top-left corner of its line at `(x, y)`, each
    /// font pixel `scale` pixels wide; returns the width drawn.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, colour: Rgb) -> usize {
        let mut pen = x;
        for c in text.chars() {
            let (rows, offset) = font::glyph(c);
            for (row, bits) in rows.iter().enumerate() {
                for column in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - column)) != 0 {
                        self.fill(
                            pen + column * scale,
                            y + (row + offset) * scale,
                            scale,
                            scale,
                            colour,
                        );
                    }
                }
            }
            pen += advance(scale);
        }
        text_width(text, scale)
    }

    fn encode(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(out)
    }
}

/// One character's step at `scale`: the glyph and a column of space.
fn advance(scale: usize) -> usize {
    (font::WIDTH + 1) * scale
}

/// How wide `text` is drawn at `scale`, without the last column of space.
fn text_width(text: &str, scale: usize) -> usize {
    let chars = text.chars().count();
    (chars * advance(scale)).saturating_sub(scale)
}

/// Splits `text` into at most `max_lines` lines of at most `per_line`
/// characters, at spaces where it can; what does not fit ends in `...`.
fn wrap(text: &str, per_line: usize, max_lines: usize) -> Vec<String> {
    let per_line = per_line.max(4);
    // A word longer than a line is split into line-long pieces.
    let pieces = text.split_whitespace().flat_map(|word| {
        let chars: Vec<char> = word.chars().collect();
        chars
            .chunks(per_line)
            .map(|piece| piece.iter().collect::<String>())
            .collect::<Vec<_>>()
    });
    let mut lines = Vec::new();
    let mut current = String::new();
    for piece in pieces {
        let len = current.chars().count();
        if len > 0 && len + 1 + piece.chars().count() > per_line {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(per_line - 3).collect();
            *last = format!("{}...", kept.trim_end());
        }
    }
    lines
}

/// The largest scale in `range` at which `text` fits `width` on one line.
fn fitting_scale(
    text: &str,
    width: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Option<usize> {
    range.rev().find(|&scale| text_width(text, scale) <= width)
}

/// A line of text's height at `scale`, descenders included.
fn line_height(scale: usize) -> usize {
    (font::HEIGHT + font::DESCENT) * scale
}

/// Draws `view` and encodes it as a PNG.
pub(crate) fn draw(view: &CardView) -> Result<Vec<u8>, png::EncodingError> {
    let mut canvas = Canvas::new();
    let (width, height) = (WIDTH as usize, HEIGHT as usize);
    let inner = width - 2 * MARGIN;
    // An accent bar along the top.
    canvas.fill(0, 0, width, 10, ACCENT);

    let mut y = 58;
    let kicker = match &view.room {
        Some(_) => "YOU'RE INVITED - PLAY IN YOUR BROWSER",
        None => "PLAY IN YOUR BROWSER - NO INSTALL",
    };
    canvas.text(MARGIN, y, kicker, 4, ACCENT);
    y += line_height(4) + 26;

    // The title: as large as fits on one line, else on two smaller ones.
    let title = view.title.trim();
    match fitting_scale(title, inner, 6..=14) {
        Some(scale) => {
            canvas.text(MARGIN, y, title, scale, BRIGHT);
            y += line_height(scale) + 12;
        }
        None => {
            let scale = 6;
            for line in wrap(title, inner / advance(scale), 2) {
                canvas.text(MARGIN, y, &line, scale, BRIGHT);
                y += line_height(scale) + 6;
            }
            y += 14;
        }
    }

    // The description, in the lines left above the panel (three at most).
    let panel_height = 150;
    let panel_top = height - 60 - panel_height;
    let scale = 4;
    let step = line_height(scale) + 10;
    let lines = panel_top.saturating_sub(y + 14) / step;
    for line in wrap(&view.description, inner / advance(scale), lines.min(3)) {
        canvas.text(MARGIN, y, &line, scale, TEXT);
        y += step;
    }

    // The panel: the room, or how to start one.
    canvas.panel(MARGIN - 20, panel_top, inner + 40, panel_height, 18, PANEL);
    let right = MARGIN + inner - 10;
    match &view.room {
        Some(room) => {
            canvas.text(MARGIN + 10, panel_top + 26, "ROOM CODE", 3, MUTED);
            canvas.text(MARGIN + 10, panel_top + 64, &room.code, 9, ACCENT);
            let count = format!("{}/{}", room.players, room.capacity);
            let count_width = text_width(&count, 7);
            let count_x = right - count_width;
            let count_y = panel_top + 24;
            canvas.text(count_x, count_y, &count, 7, BRIGHT);
            let icon = 7 * 7;
            canvas.people(count_x - icon - 30, count_y, icon);
            let (label, colour) = (card_status_text(room.status), status_colour(room.status));
            let label_x = right - text_width(label, 3);
            let label_y = panel_top + 100;
            let dot = 16;
            canvas.panel(label_x - dot - 12, label_y + 2, dot, dot, 8, colour);
            canvas.text(label_x, label_y, label, 3, colour);
        }
        None => {
            canvas.text(
                MARGIN + 10,
                panel_top + 36,
                "HOST A GAME, SEND THE LINK,",
                4,
                BRIGHT,
            );
            let players = format!(
                "PLAY WITH UP TO {} FRIENDS",
                view.capacity.saturating_sub(1)
            );
            canvas.text(MARGIN + 10, panel_top + 84, &players, 4, ACCENT);
        }
    }
    canvas.encode()
}

/// The state's words on the card, in capitals.
fn card_status_text(status: RoomStatus) -> &'static str {
    match status {
        RoomStatus::Waiting => "WAITING FOR PLAYERS",
        RoomStatus::WaitingForHost => "WAITING FOR THE HOST",
        RoomStatus::Playing => "GAME ON - JUMP IN",
        RoomStatus::HostAway => "HOST RECONNECTING",
        RoomStatus::Full => "FULL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_and_marks_a_cut() {
        assert_eq!(wrap("one two three", 7, 3), ["one two", "three"]);
        assert_eq!(wrap("one two three four", 7, 2), ["one two", "thre..."]);
        assert_eq!(wrap("abcdefghij", 4, 3), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("  ", 10, 2), Vec::<String>::new());
        assert_eq!(wrap("short", 10, 0), Vec::<String>::new());
    }

    #[test]
    fn text_is_measured_as_drawn() {
        assert_eq!(text_width("", 3), 0);
        assert_eq!(text_width("A", 3), 15);
        assert_eq!(text_width("AB", 3), 33);
        assert_eq!(fitting_scale("ARENA", 200, 1..=16), Some(6));
        assert_eq!(fitting_scale(&"W".repeat(100), 200, 1..=16), None);
    }
}

//! The share link's page, `GET /play/{CODE}`, and its preview cards.
//!
//! A friend's first sight of a game is a link pasted into a chat. The
//! server renders that page itself, so that a link preview (Open Graph and
//! Twitter tags, a PNG card) and the page say which game it is, who is in
//! the room and whether it is still there, before anything downloads:
//!
//! - a live room: `200`, with the room's code, player count, capacity and
//!   state, and (when the web root holds the game's `loader.js`) the game's
//!   canvas and a Join button: nothing starts, and no seat is taken, until a
//!   person presses it;
//! - a full room: `200` too (the link is right, the room is there: a
//!   preview still shows the game), with "This game is full" and the
//!   upgrade text, and no Join button;
//! - an unknown, expired or malformed code: `404`, "Game not found", with a
//!   link to host a new game;
//! - a spent lookup budget: `429` with `Retry-After`.
//!
//! The page and the room's card tell whether a code is live, so each is a
//! room lookup under the same per-address guessing budget as
//! `GET /api/rooms/{code}` ([`Hub::room_info`]).
//!
//! Rendering is pure (`page.rs` turns a `PageView` into HTML, `card.rs` a
//! room into a PNG); the handlers here do the lookups. Everything the
//! operator or a request controls is escaped (`page::Escaped`).
//!
//! Absolute URLs (`og:url`, `og:image`) are made under `--public-url` when
//! there is one. Without it, under the request's `Host`, checked to be a
//! plain `host[:port]` and with `http://`: `origin.rs` distrusts `Host` for
//! deciding who may use the API, but here it only names where this page's
//! own picture is, for whoever asked for the page; a forged `Host` can only
//! mislead its own sender. A server behind an HTTPS proxy should be given
//! its public URL.

mod card;
mod font;
mod page;

pub(crate) use page::Escaped;
use page::{ImageRef, LiveRoom, PageView, RoomView, render_page};

use crate::{
    api::{error_response, refusal_response},
    forwarded::ClientAddr,
    hub::{Hub, Refusal},
    web_root::WebRoot,
};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bevy_p2p_protocol::{
    ErrorCode, RoomInfo, RoomState,
    api::{PLAY_ROUTE, play_path},
};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
};

/// The game's own preview card (or the operator's image).
pub(crate) const CARD_PATH: &str = "/card.png";

/// A room's preview card, as an axum route pattern.
pub(crate) const ROOM_CARD_ROUTE: &str = "/play/{code}/card.png";

/// The web root's script that loads and starts the game on the page.
const LOADER: &str = "loader.js";

/// The longest game title and description [`ShareSettings`] accept.
const MAX_TITLE_CHARS: usize = 80;
const MAX_DESCRIPTION_CHARS: usize = 300;

/// The largest `--game-image` read, bytes (Facebook's limit for a preview).
const MAX_IMAGE_BYTES: u64 = 8 * 1024 * 1024;

/// What share pages and preview cards say about the game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSettings {
    /// The game's name: the page's title (`{title} - Play Now!`) and the
    /// card's headline. 1 to 80 characters, no control characters.
    /// Default `Arena`.
    pub game_title: String,
    /// A sentence or two about the game, for the page and link previews.
    /// At most 300 characters, no control characters.
    pub game_description: String,
    /// A PNG to show in link previews instead of the cards the server
    /// draws (1200x630 suits most apps), served at `/card.png`. Default
    /// none: the server draws a card for the game and one per room.
    pub game_image: Option<PathBuf>,
    /// Room cards kept drawn, each for one room in one state (a few dozen
    /// KiB each). Default 256.
    pub card_cache: usize,
}

impl Default for ShareSettings {
    fn default() -> Self {
        Self {
            game_title: "Arena".into(),
            game_description: "A fast little arena for you and your friends, right in the \
                               browser. No install, no account."
                .into(),
            game_image: None,
            card_cache: 256,
        }
    }
}

impl ShareSettings {
    /// Checks the title and description.
    pub fn validate(&self) -> Result<(), String> {
        for (name, text, max) in [
            ("game title", &self.game_title, MAX_TITLE_CHARS),
            (
                "game description",
                &self.game_description,
                MAX_DESCRIPTION_CHARS,
            ),
        ] {
            if text.chars().count() > max {
                return Err(format!("the {name} must be at most {max} characters"));
            }
            if text.chars().any(char::is_control) {
                return Err(format!("the {name} must have no control characters"));
            }
        }
        if self.game_title.trim().is_empty() {
            return Err("the game title must not be empty".into());
        }
        Ok(())
    }
}

/// Where a room is, as the page and its card say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RoomStatus {
    /// Players gather; the host is there.
    Waiting,
    /// The room was made and its host has not connected yet.
    WaitingForHost,
    /// The game has started; players join it as it goes.
    Playing,
    /// The host dropped and may come back.
    HostAway,
    /// Every seat is taken.
    Full,
}

impl RoomStatus {
    /// A room's status from its info: full wins, then the host's absence.
    pub(crate) fn of(info: &RoomInfo) -> Self {
        if info.is_full() {
            return Self::Full;
        }
        match info.state {
            RoomState::HostAway => Self::HostAway,
            RoomState::Playing => Self::Playing,
            RoomState::Waiting if info.host_connected => Self::Waiting,
            RoomState::Waiting => Self::WaitingForHost,
        }
    }

    /// The name in the page's `data-state`.
    fn name(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::WaitingForHost => "waiting_for_host",
            Self::Playing => "playing",
            Self::HostAway => "host_away",
            Self::Full => "full",
        }
    }

    /// The state in words, for the page and link previews.
    fn words(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting for players",
            Self::WaitingForHost => "Waiting for the host",
            Self::Playing => "Game on: join in",
            Self::HostAway => "The host is reconnecting",
            Self::Full => "This game is full",
        }
    }
}

/// The preview image every page names when no room card applies: the
/// operator's `--game-image`, or the game's own card.
struct GameImage {
    png: Bytes,
    width: u32,
    height: u32,
    /// The operator's: rooms' pages name it too.
    custom: bool,
}

impl GameImage {
    fn load(settings: &ShareSettings, capacity: usize) -> Result<Self, String> {
        let Some(path) = &settings.game_image else {
            let view = card::CardView {
                title: settings.game_title.clone(),
                description: settings.game_description.clone(),
                room: None,
                capacity,
            };
            let png = card::draw(&view).map_err(|error| format!("drawing the card: {error}"))?;
            return Ok(Self {
                png: png.into(),
                width: card::WIDTH,
                height: card::HEIGHT,
                custom: false,
            });
        };
        let refuse = |why: String| format!("game image `{}`: {why}", path.display());
        let size = std::fs::metadata(path)
            .map_err(|error| refuse(error.to_string()))?
            .len();
        if size > MAX_IMAGE_BYTES {
            return Err(refuse(format!("larger than {MAX_IMAGE_BYTES} bytes")));
        }
        let png = std::fs::read(path).map_err(|error| refuse(error.to_string()))?;
        let (width, height) = png_size(&png).map_err(|why| refuse(why.to_owned()))?;
        Ok(Self {
            png: png.into(),
            width,
            height,
            custom: true,
        })
    }
}

/// The width and height in a PNG's header, or why it is not a PNG.
fn png_size(bytes: &[u8]) -> Result<(u32, u32), &'static str> {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .map_err(|_| "not a PNG file")?;
    let info = reader.info();
    Ok((info.width, info.height))
}

/// Room cards already drawn, at most `max`, the least recently drawn
/// dropped first.
struct CardCache {
    max: usize,
    cards: HashMap<card::RoomCard, (Bytes, u64)>,
    next: u64,
}

impl CardCache {
    fn get(&mut self, key: &card::RoomCard) -> Option<Bytes> {
        self.cards.get(key).map(|(png, _)| png.clone())
    }

    fn insert(&mut self, key: card::RoomCard, png: Bytes) {
        if self.max == 0 {
            return;
        }
        while self.cards.len() >= self.max {
            let oldest = self
                .cards
                .iter()
                .min_by_key(|(_, (_, drawn))| *drawn)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(oldest) => self.cards.remove(&oldest),
                None => break,
            };
        }
        self.next += 1;
        self.cards.insert(key, (png, self.next));
    }
}

/// What the share handlers share.
#[derive(Clone)]
pub(crate) struct SharePages(Arc<Inner>);

struct Inner {
    hub: Hub,
    settings: ShareSettings,
    /// `--public-url`, checked, without a trailing slash.
    public_url: Option<String>,
    /// The web root's folder and its file service.
    web_root: Option<(PathBuf, WebRoot)>,
    game_image: GameImage,
    cards: Mutex<CardCache>,
}

impl SharePages {
    /// Loads or draws the game's image; an error names what is wrong.
    pub(crate) fn new(
        hub: Hub,
        settings: ShareSettings,
        public_url: Option<String>,
        web_root: Option<(PathBuf, WebRoot)>,
        capacity: usize,
    ) -> Result<Self, String> {
        settings.validate()?;
        let game_image = GameImage::load(&settings, capacity)?;
        let cards = Mutex::new(CardCache {
            max: settings.card_cache,
            cards: HashMap::new(),
            next: 0,
        });
        Ok(Self(Arc::new(Inner {
            hub,
            settings,
            public_url,
            web_root,
            game_image,
            cards,
        })))
    }

    /// Where absolute URLs start for a request with these headers.
    fn origin(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(public) = &self.0.public_url {
            return Some(public.clone());
        }
        let host = headers.get(header::HOST)?.to_str().ok()?;
        checked_host(host).map(|host| format!("http://{host}"))
    }
}

/// `host[:port]` in lower case when `raw` is one (a DNS name, an IPv4
/// address, or an IPv6 address in brackets), else `None`.
fn checked_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 261 {
        return None;
    }
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let valid = !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (valid.then_some(inside)?, port)
    } else {
        let (host, port) = match raw.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (raw, None),
        };
        let valid = host.len() <= 253
            && !host.starts_with(['-', '.'])
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
        (valid.then_some(host)?, port)
    };
    if host.is_empty() {
        return None;
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || port.parse::<u16>().is_err())
    {
        return None;
    }
    Some(raw.to_ascii_lowercase())
}

/// `GET`/`HEAD /play/{code}`, `/play/{code}/card.png` and `/card.png`.
pub(crate) fn routes(pages: SharePages) -> Router {
    Router::new()
        .route(PLAY_ROUTE, get(page))
        .route(ROOM_CARD_ROUTE, get(room_card))
        .route(CARD_PATH, get(game_card))
        .with_state(pages)
}

/// Whether the web root holds the game's loader: `Some(true)` yes,
/// `Some(false)` a web root without one (a build from before the share
/// page), `None` no web root.
async fn game_here(pages: &SharePages) -> Option<bool> {
    let (root, _) = pages.0.web_root.as_ref()?;
    Some(
        tokio::fs::metadata(root.join(LOADER))
            .await
            .is_ok_and(|meta| meta.is_file()),
    )
}

/// `GET /play/{code}`: the share page.
async fn page(
    State(pages): State<SharePages>,
    ClientAddr(client): ClientAddr,
    code: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let game_here = game_here(&pages).await;
    if let (Some(false), Some((_, files))) = (game_here, &pages.0.web_root) {
        // A web root from before the share page starts the game at once.
        return files.serve_index(request).await;
    }
    let room = match code {
        Ok(Path(code)) => match pages.0.hub.room_info(client, &code) {
            Ok(info) => RoomView::Live(LiveRoom::from(&info)),
            Err(refusal) => refused_view(refusal, &code),
        },
        // Not UTF-8 once decoded: no code, and nothing looked up.
        Err(_) => RoomView::NotFound { code: None },
    };
    let settings = &pages.0.settings;
    let image = match &room {
        RoomView::Live(room) if !pages.0.game_image.custom => ImageRef {
            path: format!("{}/card.png", play_path(&room.code)),
            width: card::WIDTH,
            height: card::HEIGHT,
        },
        _ => ImageRef {
            path: CARD_PATH.to_owned(),
            width: pages.0.game_image.width,
            height: pages.0.game_image.height,
        },
    };
    let origin = pages.origin(request.headers());
    let retry_after = match room {
        RoomView::Limited { retry_after_secs } => Some(retry_after_secs),
        _ => None,
    };
    let rendered = render_page(&PageView {
        title: &settings.game_title,
        description: &settings.game_description,
        origin: origin.as_deref(),
        game_here: game_here == Some(true),
        image,
        room,
    });
    let mut response = (
        rendered.status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The count is live: always ask again.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        rendered.html,
    )
        .into_response();
    if let Some(secs) = retry_after {
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The page's view of a failed lookup.
fn refused_view(refusal: Refusal, code: &str) -> RoomView {
    match refusal.retry_after {
        Some(after) => RoomView::Limited {
            retry_after_secs: (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1),
        },
        None => RoomView::NotFound {
            code: crate::code::normalize(code).ok(),
        },
    }
}

/// `GET /play/{code}/card.png`: the room's card, drawn on demand and kept.
async fn room_card(
    State(pages): State<SharePages>,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
) -> Response {
    let info = match pages.0.hub.room_info(client, &code) {
        Ok(info) => info,
        Err(refusal) => return refusal_response(refusal),
    };
    let key = card::RoomCard {
        code: info.code.clone(),
        players: info.players,
        capacity: info.capacity,
        status: RoomStatus::of(&info),
    };
    let cached = pages
        .0
        .cards
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key);
    let png = match cached {
        Some(png) => png,
        None => {
            let view = card::CardView {
                title: pages.0.settings.game_title.clone(),
                description: pages.0.settings.game_description.clone(),
                room: Some(key.clone()),
                capacity: info.capacity,
            };
            let drawn = tokio::task::spawn_blocking(move || card::draw(&view)).await;
            let Ok(Ok(png)) = drawn else {
                tracing::error!("drawing a room card failed");
                return error_response(ErrorCode::Internal);
            };
            let png = Bytes::from(png);
            pages
                .0
                .cards
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, png.clone());
            png
        }
    };
    // A short life: the count changes.
    png_response(png, "public, max-age=30")
}

/// `GET /card.png`: the game's own card, or the operator's image.
async fn game_card(State(pages): State<SharePages>) -> Response {
    png_response(pages.0.game_image.png.clone(), "public, max-age=300")
}

fn png_response(png: Bytes, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Body::from(png),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_used_only_when_it_is_a_host() {
        assert_eq!(checked_host("Example.COM").as_deref(), Some("example.com"));
        assert_eq!(
            checked_host("127.0.0.1:3536").as_deref(),
            Some("127.0.0.1:3536")
        );
        assert_eq!(checked_host("[::1]:8080").as_deref(), Some("[::1]:8080"));
        assert_eq!(checked_host("[::1]").as_deref(), Some("[::1]"));
        for bad in [
            "",
            "a b",
            "evil.com/path",
            "evil.com\"><script>",
            "host:",
            "host:99999",
            "host:1:2",
            "[::1]x",
            "[zz]",
            "-lead.example",
            "user@host",
            "host?q",
        ] {
            assert_eq!(checked_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn room_status_follows_the_room() {
        let info = |players, host_connected, state| RoomInfo {
            code: "ABC234".into(),
            players,
            capacity: 4,
            host_connected,
            state,
            share_url: None,
            closes_in_secs: None,
        };
        assert_eq!(
            RoomStatus::of(&info(0, false, RoomState::Waiting)),
            RoomStatus::WaitingForHost
        );
        assert_eq!(
            RoomStatus::of(&info(2, true, RoomState::Waiting)),
            RoomStatus::Waiting
        );
        assert_eq!(
            RoomStatus::of(&info(2, true, RoomState::Playing)),
            RoomStatus::Playing
        );
        assert_eq!(
            RoomStatus::of(&info(1, false, RoomState::HostAway)),
            RoomStatus::HostAway
        );
        assert_eq!(
            RoomStatus::of(&info(4, true, RoomState::Playing)),
            RoomStatus::Full
        );
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(ShareSettings::default().validate(), Ok(()));
        for bad in [
            ShareSettings {
                game_title: " ".into(),
                ..ShareSettings::default()
            },
            ShareSettings {
                game_title: "x".repeat(81),
                ..ShareSettings::default()
            },
            ShareSettings {
                game_description: "line\nbreak".into(),
                ..ShareSettings::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_card_cache_keeps_the_latest_cards() {
        let key = |players| card::RoomCard {
            code: "ABC234".into(),
            players,
            capacity: 6,
            status: RoomStatus::Waiting,
        };
        let mut cache = CardCache {
            max: 2,
            cards: HashMap::new(),
            next: 0,
        };
        for players in 1..=3 {
            cache.insert(key(players), Bytes::from(vec![players as u8]));
        }
        assert_eq!(cache.get(&key(1)), None);
        assert_eq!(cache.get(&key(2)).as_deref(), Some(&[2][..]));
        assert_eq!(cache.get(&key(3)).as_deref(), Some(&[3][..]));
        let mut none = CardCache {
            max: 0,
            cards: HashMap::new(),
            next: 0,
        };
        none.insert(key(1), Bytes::new());
        assert_eq!(none.get(&key(1)), None);
    }

    #[test]
    fn cards_are_pngs_of_the_declared_size() {
        let settings = ShareSettings::default();
        let image = GameImage::load(&settings, 6).expect("drawn");
        assert_eq!(png_size(&image.png), Ok((card::WIDTH, card::HEIGHT)));
        let room = card::draw(&card::CardView {
            title: "<script>".into(),
            description: "x".repeat(300),
            room: Some(card::RoomCard {
                code: "ABC234".into(),
                players: 3,
                capacity: 6,
                status: RoomStatus::HostAway,
            }),
            capacity: 6,
        })
        .expect("drawn");
        assert_eq!(png_size(&room), Ok((card::WIDTH, card::HEIGHT)));
        assert_ne!(room, image.png.to_vec());
        assert_eq!(png_size(b"GIF89a"), Err("not a PNG file"));
    }
}

//! The share page's HTML, from a [`PageView`]: pure, no I/O. Every string
//! the operator or a request controls goes through [`Escaped`]; the rest
//! is this file's own text.

use super::RoomStatus;
use axum::http::StatusCode;
use bevy_p2p_protocol::{RoomInfo, api::play_path, room};
use std::fmt;

/// Text made safe for HTML, in element content and in double- or
/// single-quoted attribute values alike.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// A room as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveRoom {
    /// Canonical.
    pub(crate) code: String,
    pub(crate) players: usize,
    pub(crate) capacity: usize,
    pub(crate) status: RoomStatus,
    /// While the host is away: seconds until the room closes.
    pub(crate) closes_in_secs: Option<u64>,
}

impl From<&RoomInfo> for LiveRoom {
    fn from(info: &RoomInfo) -> Self {
        Self {
            code: info.code.clone(),
            players: info.players,
            capacity: info.capacity,
            status: RoomStatus::of(info),
            closes_in_secs: info.closes_in_secs,
        }
    }
}

/// What the lookup of the page's code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomView {
    Live(LiveRoom),
    /// No live room: `code` when it was a well-formed code.
    NotFound {
        code: Option<String>,
    },
    /// The address's lookup budget is spent.
    Limited {
        retry_after_secs: u64,
    },
}

/// The preview image a page names, path under the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    pub(crate) path: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Everything one page shows: plain data, no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageView<'a> {
    pub(crate) title: &'a str,
    pub(crate) description: &'a str,
    /// `http(s)://host[:port][/prefix]`, without a trailing slash: absolute
    /// URLs are made under it. `None`: the request named no usable host,
    /// and the tags that need an absolute URL are left out.
    pub(crate) origin: Option<&'a str>,
    /// Whether this server serves the game (its web root has `loader.js`):
    /// then a live room's page carries the game and its Join button, and
    /// every page a link to host a game.
    pub(crate) game_here: bool,
    pub(crate) image: ImageRef,
    pub(crate) room: RoomView,
}

/// A rendered page and the status it goes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RenderedPage {
    pub(crate) status: StatusCode,
    pub(crate) html: String,
}

/// The page for `view`.
pub(crate) fn render_page(view: &PageView<'_>) -> RenderedPage {
    let host_url = format!("{}/?host", view.origin.unwrap_or(""));
    let (status, head_title, og_title, og_description, body) = match &view.room {
        RoomView::Live(room) => {
            let count = format!(
                "\u{1F465} {}/{} players online - {}.",
                room.players,
                room.capacity,
                room.status.words()
            );
            let og_description = format!("{count} {}", view.description);
            if room.status == RoomStatus::Full {
                (
                    StatusCode::OK,
                    format!("{} - This game is full", view.title),
                    format!("{} - This game is full", view.title),
                    og_description,
                    full_body(view, room, &host_url),
                )
            } else {
                let title = format!("{} - Play Now!", view.title);
                (
                    StatusCode::OK,
                    title.clone(),
                    title,
                    og_description,
                    live_body(view, room, &host_url),
                )
            }
        }
        RoomView::NotFound { code } => (
            StatusCode::NOT_FOUND,
            format!("Game not found - {}", view.title),
            "Game not found".to_owned(),
            format!(
                "This game has ended, or the link is not quite right. {}",
                view.description
            ),
            not_found_body(view, code.as_deref(), &host_url),
        ),
        RoomView::Limited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Please wait - {}", view.title),
            format!("{} - Play Now!", view.title),
            view.description.to_owned(),
            limited_body(view, *retry_after_secs),
        ),
    };
    let mut html = String::with_capacity(8 * 1024);
    html.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n");
    html.push_str("<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<meta name=\"theme-color\" content=\"#0d0d12\">\n");
    // Rooms come and go: no search engine should keep their pages.
    html.push_str("<meta name=\"robots\" content=\"noindex\">\n");
    push_line(
        &mut html,
        format_args!("<title>{}</title>", Escaped(&head_title)),
    );
    let meta = |html: &mut String, kind: &str, key: &str, value: &str| {
        push_line(
            html,
            format_args!("<meta {kind}=\"{key}\" content=\"{}\">", Escaped(value)),
        );
    };
    meta(&mut html, "name", "description", &og_description);
    meta(&mut html, "property", "og:type", "website");
    meta(&mut html, "property", "og:site_name", view.title);
    meta(&mut html, "property", "og:title", &og_title);
    meta(&mut html, "property", "og:description", &og_description);
    if let Some(origin) = view.origin {
        if let RoomView::Live(room) = &view.room {
            let url = format!("{origin}{}", play_path(&room.code));
            meta(&mut html, "property", "og:url", &url);
            push_line(
                &mut html,
                format_args!("<link rel=\"canonical\" href=\"{}\">", Escaped(&url)),
            );
        }
        let image = format!("{origin}{}", view.image.path);
        meta(&mut html, "property", "og:image", &image);
        meta(&mut html, "property", "og:image:type", "image/png");
        meta(
            &mut html,
            "property",
            "og:image:width",
            &view.image.width.to_string(),
        );
        meta(
            &mut html,
            "property",
            "og:image:height",
            &view.image.height.to_string(),
        );
        meta(&mut html, "property", "og:image:alt", &og_title);
        meta(&mut html, "name", "twitter:image", &image);
    }
    meta(&mut html, "name", "twitter:card", "summary_large_image");
    meta(&mut html, "name", "twitter:title", &og_title);
    meta(&mut html, "name", "twitter:description", &og_description);
    html.push_str("<style>\n");
    html.push_str(STYLE);
    html.push_str("</style>\n</head>\n");
    html.push_str(&body);
    html.push_str("</html>\n");
    RenderedPage { status, html }
}

fn push_line(html: &mut String, line: fmt::Arguments<'_>) {
    use fmt::Write;
    let _ = html.write_fmt(line);
    html.push('\n');
}

/// The players icon (two people), drawn inline: no emoji font needed.
const PEOPLE_ICON: &str = "<svg class=\"icon\" viewBox=\"0 0 24 24\" aria-hidden=\"true\">\
<circle cx=\"9\" cy=\"8\" r=\"4\"/><path d=\"M1 21c0-4.4 3.6-7 8-7s8 2.6 8 7z\"/>\
<circle cx=\"17\" cy=\"7\" r=\"3\" opacity=\".6\"/><path d=\"M17 12c3.4 0 6 2 6 5.5h-4.6c-.3-2.2-1.3-4-3-5.3.5-.1 1-.2 1.6-.2z\" opacity=\".6\"/></svg>";

/// The room's code, count and state.
fn room_summary(room: &LiveRoom) -> String {
    let closes = match (room.status, room.closes_in_secs) {
        (RoomStatus::HostAway, Some(secs)) => {
            format!(
                " <span class=\"closes\">(the room closes in {secs} s unless they return)</span>"
            )
        }
        _ => String::new(),
    };
    format!(
        "<section class=\"room\" aria-label=\"Room\">\n\
         <div><span class=\"label\">Room code</span><strong class=\"code\">{code}</strong></div>\n\
         <div><span class=\"label\">Players</span><strong class=\"count\">{PEOPLE_ICON}{players}/{capacity}</strong></div>\n\
         </section>\n\
         <p class=\"state state-{state}\"><span class=\"dot\"></span>{words}{closes}</p>\n",
        code = Escaped(&room.code),
        players = room.players,
        capacity = room.capacity,
        state = room.status.name(),
        words = Escaped(room.status.words()),
    )
}

/// The card's opening: the `data-` attributes a script or test reads.
fn card_open(state: &str, room: Option<&LiveRoom>) -> String {
    let data = match room {
        Some(room) => format!(
            " data-code=\"{}\" data-players=\"{}\" data-capacity=\"{}\"",
            Escaped(&room.code),
            room.players,
            room.capacity
        ),
        None => String::new(),
    };
    format!("<main id=\"p2p-share\" class=\"card\" data-state=\"{state}\"{data}>\n")
}

fn heading(view: &PageView<'_>, kicker: &str) -> String {
    format!(
        "<p class=\"kicker\">{}</p>\n<h1>{}</h1>\n<p class=\"description\">{}</p>\n",
        Escaped(kicker),
        Escaped(view.title),
        Escaped(view.description)
    )
}

fn host_link(view: &PageView<'_>, host_url: &str, text: &str, class: &str) -> String {
    if !view.game_here {
        return String::new();
    }
    format!(
        "<p class=\"{class}\"><a href=\"{}\">{}</a></p>\n",
        Escaped(host_url),
        Escaped(text)
    )
}

fn live_body(view: &PageView<'_>, room: &LiveRoom, host_url: &str) -> String {
    let mut body = String::from("<body>\n");
    if view.game_here {
        body.push_str("<canvas id=\"arena\" tabindex=\"0\"></canvas>\n");
    }
    body.push_str("<div class=\"backdrop\">\n");
    body.push_str(&card_open(room.status.name(), Some(room)));
    body.push_str(&heading(view, "You're invited to play"));
    body.push_str(&room_summary(room));
    if view.game_here {
        body.push_str(
            "<button id=\"p2p-join\" type=\"button\">Join Game</button>\n\
             <progress id=\"p2p-progress\" max=\"1\" value=\"0\" aria-label=\"Loading the game\"></progress>\n\
             <p id=\"p2p-no-webgl\" class=\"warning\" hidden>This browser cannot run the game: \
             it has no WebGL2. Try a recent Chrome, Firefox, Edge or Safari, with hardware \
             acceleration on.</p>\n\
             <noscript><p class=\"warning\">The game needs JavaScript: turn it on to \
             play.</p></noscript>\n",
        );
        body.push_str(&host_link(view, host_url, "Or host a new game", "alt"));
    } else {
        body.push_str(
            "<p class=\"note\">The game is not served from here: open it and join this \
             room by its code.</p>\n",
        );
    }
    body.push_str("</main>\n</div>\n");
    if view.game_here {
        // Absolute: the page's own URL is /play/{CODE}.
        body.push_str("<script type=\"module\" src=\"/loader.js\"></script>\n");
    }
    body.push_str("</body>\n");
    body
}

fn full_body(view: &PageView<'_>, room: &LiveRoom, host_url: &str) -> String {
    let mut body = String::from("<body>\n<div class=\"backdrop\">\n");
    body.push_str(&card_open(room.status.name(), Some(room)));
    body.push_str(&heading(view, "No seat left in this room"));
    body.push_str(&room_summary(room));
    push_line(
        &mut body,
        format_args!(
            "<section class=\"upgrade\">\n<h2>{}</h2>\n<p>{}</p>\n</section>",
            Escaped(&room::upgrade_heading()),
            Escaped(&room::upgrade_text())
        ),
    );
    body.push_str(&host_link(
        view,
        host_url,
        "Host a new game",
        "primary-link",
    ));
    body.push_str("<p class=\"alt\">A seat may free up: <a href=\"\">try again</a></p>\n");
    body.push_str("</main>\n</div>\n</body>\n");
    body
}

fn not_found_body(view: &PageView<'_>, code: Option<&str>, host_url: &str) -> String {
    let mut body = String::from("<body>\n<div class=\"backdrop\">\n");
    body.push_str(&card_open("not_found", None));
    push_line(
        &mut body,
        format_args!(
            "<p class=\"kicker\">{}</p>\n<h1>Game not found</h1>",
            Escaped(view.title)
        ),
    );
    let why = match code {
        Some(code) => format!(
            "There is no game with the code <strong class=\"code\">{}</strong>: it has \
             ended (a room closes when its host leaves), or the link is not quite right.",
            Escaped(code)
        ),
        None => "This link does not hold a game code: a code is 6 letters and digits, \
                 like ABC234."
            .to_owned(),
    };
    push_line(
        &mut body,
        format_args!("<p class=\"description\">{why}</p>"),
    );
    body.push_str(&host_link(
        view,
        host_url,
        "Host a new game",
        "primary-link",
    ));
    body.push_str("</main>\n</div>\n</body>\n");
    body
}

fn limited_body(view: &PageView<'_>, retry_after_secs: u64) -> String {
    let mut body = String::from("<body>\n<div class=\"backdrop\">\n");
    body.push_str(&card_open("rate_limited", None));
    push_line(
        &mut body,
        format_args!(
            "<p class=\"kicker\">{}</p>\n<h1>Please wait a moment</h1>\n\
             <p class=\"description\">Too many game codes were looked up from your network. \
             Try this link again in {retry_after_secs} s.</p>",
            Escaped(view.title)
        ),
    );
    body.push_str("</main>\n</div>\n</body>\n");
    body
}

/// The page's style: web/index.html's colours, a card in the middle.
const STYLE: &str = r#":root { color-scheme: dark; }
html, body { margin: 0; min-height: 100%; background: #0d0d12; color: #ccd; font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body.p2p-playing { overflow: hidden; height: 100%; }
#arena { position: fixed; inset: 0; width: 100%; height: 100%; display: block; outline: none; }
.backdrop { position: relative; z-index: 1; min-height: 100vh; box-sizing: border-box; display: grid; place-items: center; padding: 24px 16px;
  background: radial-gradient(circle at 50% 0%, #222238 0%, #0d0d12 65%), #0d0d12;
  background-image: radial-gradient(circle at 50% 0%, rgba(60,60,110,.45) 0%, rgba(13,13,18,0) 60%), radial-gradient(#1a1a26 1.5px, transparent 1.5px);
  background-size: 100% 100%, 30px 30px; }
body.p2p-playing .backdrop { display: none; }
.card { width: 100%; max-width: 560px; box-sizing: border-box; padding: 36px 40px 30px; background: #15151f; border: 1px solid #2a2a3c; border-top: 4px solid #ffc04d; border-radius: 18px; box-shadow: 0 24px 60px rgba(0,0,0,.55); }
.kicker { margin: 0 0 6px; color: #ffc04d; font-size: 13px; font-weight: 700; letter-spacing: .14em; text-transform: uppercase; }
h1 { margin: 0 0 10px; color: #f4f4fa; font-size: 44px; line-height: 1.1; overflow-wrap: anywhere; }
.description { margin: 0 0 24px; color: #b4b4c8; overflow-wrap: anywhere; }
.room { display: grid; grid-template-columns: 1fr auto; gap: 12px; padding: 16px 20px; background: #0f0f17; border: 1px solid #24243a; border-radius: 12px; }
.room div { display: flex; flex-direction: column; }
.room div + div { align-items: flex-end; }
.label { color: #808096; font-size: 12px; font-weight: 600; letter-spacing: .12em; text-transform: uppercase; }
.code { color: #ffc04d; font: 700 30px/1.2 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; letter-spacing: .12em; }
.description .code { font-size: inherit; }
.count { display: flex; align-items: center; gap: 8px; color: #f4f4fa; font-size: 30px; line-height: 1.2; }
.icon { width: 28px; height: 28px; fill: #ccd; }
.state { display: flex; align-items: center; flex-wrap: wrap; gap: 8px; margin: 14px 2px 22px; font-weight: 600; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: currentColor; box-shadow: 0 0 10px currentColor; }
.state-waiting, .state-waiting_for_host { color: #4ade80; }
.state-playing { color: #60a5fa; }
.state-host_away { color: #fb923c; }
.state-full { color: #f87171; }
.closes { color: #a0a0b4; font-weight: 400; }
#p2p-join { display: block; width: 100%; padding: 16px; border: 0; border-radius: 12px; background: #4ade80; color: #0b1a10; font-family: inherit; font-size: 21px; font-weight: 700; line-height: 1.2; cursor: pointer; box-shadow: 0 8px 24px rgba(74,222,128,.25); }
#p2p-join:hover { background: #6ee7a0; }
#p2p-join:focus-visible { outline: 3px solid #f4f4fa; outline-offset: 3px; }
#p2p-join:disabled { background: #3a3a4c; color: #9a9ab0; box-shadow: none; cursor: default; }
#p2p-progress { display: block; width: 100%; height: 6px; margin: 14px 0 0; accent-color: #ffc04d; }
.warning { margin: 16px 0 0; padding: 12px 14px; border-radius: 10px; background: #2a1518; color: #fca5a5; }
.note { margin: 0; color: #a0a0b4; }
.alt { margin: 18px 0 0; color: #808096; font-size: 15px; text-align: center; }
a { color: #9ecbff; }
.primary-link { margin: 22px 0 0; }
.primary-link a { display: block; padding: 15px; border-radius: 12px; background: #ffc04d; color: #1a1204; font-weight: 700; font-size: 19px; text-align: center; text-decoration: none; }
.primary-link a:hover { background: #ffd27a; }
.upgrade { margin: 0; padding: 16px 20px; border-radius: 12px; background: #1f1520; border: 1px solid #4a2a36; }
.upgrade h2 { margin: 0 0 6px; color: #f4f4fa; font-size: 18px; }
.upgrade p { margin: 0; color: #c0b0c0; }
@media (max-width: 480px) { .card { padding: 28px 22px 24px; } h1 { font-size: 34px; } .code, .count { font-size: 24px; } }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use bevy_p2p_protocol::RoomState;

    fn live(players: usize, capacity: usize, status: RoomStatus) -> RoomView {
        RoomView::Live(LiveRoom {
            code: "ABC234".into(),
            players,
            capacity,
            status,
            closes_in_secs: None,
        })
    }

    fn view(room: RoomView) -> PageView<'static> {
        PageView {
            title: "Arena",
            description: "Fight your friends.",
            origin: Some("https://play.example.com"),
            game_here: true,
            image: ImageRef {
                path: "/play/ABC234/card.png".into(),
                width: 1200,
                height: 630,
            },
            room,
        }
    }

    /// The `content` of the `<meta>` whose `property` or `name` is `key`.
    fn meta<'a>(html: &'a str, key: &str) -> Option<&'a str> {
        html.lines().find_map(|line| {
            let rest = line
                .strip_prefix(&format!("<meta property=\"{key}\" content=\""))
                .or_else(|| line.strip_prefix(&format!("<meta name=\"{key}\" content=\"")))?;
            rest.strip_suffix("\">")
        })
    }

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            Escaped(r#"<a href="x" title='y'>&amp;</a>"#).to_string(),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(
            Escaped("plain \u{1F465} text").to_string(),
            "plain \u{1F465} text"
        );
        assert_eq!(Escaped("").to_string(), "");
        assert_eq!(Escaped("<<").to_string(), "&lt;&lt;");
    }

    #[test]
    fn a_live_room_has_its_tags_with_absolute_urls() {
        let page = render_page(&view(live(3, 6, RoomStatus::Waiting)));
        assert_eq!(page.status, StatusCode::OK);
        let html = &page.html;
        assert!(html.contains("<title>Arena - Play Now!</title>"), "{html}");
        assert_eq!(meta(html, "og:title"), Some("Arena - Play Now!"));
        assert_eq!(meta(html, "og:type"), Some("website"));
        assert_eq!(
            meta(html, "og:url"),
            Some("https://play.example.com/play/ABC234")
        );
        assert_eq!(
            meta(html, "og:image"),
            Some("https://play.example.com/play/ABC234/card.png")
        );
        assert_eq!(meta(html, "og:image:width"), Some("1200"));
        assert_eq!(meta(html, "og:image:height"), Some("630"));
        assert_eq!(meta(html, "twitter:card"), Some("summary_large_image"));
        assert_eq!(meta(html, "twitter:image"), meta(html, "og:image"));
        let description = meta(html, "og:description").expect("og:description");
        assert!(
            description.starts_with("\u{1F465} 3/6 players online - Waiting for players."),
            "{description}"
        );
        assert_eq!(meta(html, "twitter:description"), Some(description));
        // The game's elements (the contract with loader.js) are checked
        // through the server in tests/share_page.rs; here, what the view
        // puts in them.
        for element in [
            "data-state=\"waiting\" data-code=\"ABC234\" data-players=\"3\" data-capacity=\"6\"",
            "href=\"https://play.example.com/?host\"",
            "<script type=\"module\" src=\"/loader.js\"></script>",
        ] {
            assert!(html.contains(element), "{element} in {html}");
        }
    }

    #[test]
    fn without_the_game_the_page_only_previews() {
        let page = render_page(&PageView {
            game_here: false,
            ..view(live(1, 6, RoomStatus::Playing))
        });
        assert_eq!(page.status, StatusCode::OK);
        for absent in ["id=\"p2p-join\"", "<canvas", "<script", "?host"] {
            assert!(!page.html.contains(absent), "{absent}");
        }
        assert!(page.html.contains("Game on: join in"));
    }

    #[test]
    fn a_full_room_says_so_with_the_upgrade_and_no_join() {
        let page = render_page(&view(live(6, 6, RoomStatus::Full)));
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.html
                .contains("<title>Arena - This game is full</title>")
        );
        assert!(page.html.contains(&room::upgrade_heading()));
        assert!(page.html.contains(&room::upgrade_text()));
        assert!(!page.html.contains("id=\"p2p-join\""));
        assert!(!page.html.contains("<script"));
        assert!(
            meta(&page.html, "og:description")
                .is_some_and(|d| d.starts_with("\u{1F465} 6/6 players online"))
        );
    }

    #[test]
    fn unknown_malformed_and_limited_codes_get_their_pages() {
        let unknown = render_page(&view(RoomView::NotFound {
            code: Some("ZZZ234".into()),
        }));
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.html.contains("<h1>Game not found</h1>"));
        assert!(unknown.html.contains("ZZZ234"));
        assert!(
            unknown
                .html
                .contains("href=\"https://play.example.com/?host\"")
        );
        assert_eq!(meta(&unknown.html, "og:url"), None);
        assert!(!unknown.html.contains("id=\"p2p-join\""));

        let malformed = render_page(&view(RoomView::NotFound { code: None }));
        assert_eq!(malformed.status, StatusCode::NOT_FOUND);
        assert!(malformed.html.contains("does not hold a game code"));

        let limited = render_page(&view(RoomView::Limited {
            retry_after_secs: 7,
        }));
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(limited.html.contains("again in 7 s"));
    }

    #[test]
    fn hostile_settings_are_escaped_everywhere() {
        let title = "<script>alert(1)</script>\"'&";
        let description = "\"><img src=x onerror=alert(2)>";
        for room in [
            live(2, 6, RoomStatus::Waiting),
            live(6, 6, RoomStatus::Full),
            RoomView::NotFound { code: None },
            RoomView::Limited {
                retry_after_secs: 1,
            },
        ] {
            let page = render_page(&PageView {
                title,
                description,
                ..view(room)
            });
            let html = &page.html;
            assert!(!html.contains("<script>alert"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("\"'&\""), "{html}");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
            assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
            // Every tag the page has is one of ours.
            let tags: Vec<&str> = html
                .split('<')
                .skip(1)
                .map(|tag| tag.split([' ', '>', '\n']).next().unwrap_or_default())
                .collect();
            for tag in tags {
                assert!(
                    [
                        "!doctype",
                        "html",
                        "/html",
                        "head",
                        "/head",
                        "meta",
                        "title",
                        "/title",
                        "link",
                        "style",
                        "/style",
                        "body",
                        "/body",
                        "div",
                        "/div",
                        "main",
                        "/main",
                        "p",
                        "/p",
                        "h1",
                        "/h1",
                        "h2",
                        "/h2",
                        "section",
                        "/section",
                        "span",
                        "/span",
                        "strong",
                        "/strong",
                        "svg",
                        "/svg",
                        "circle",
                        "path",
                        "canvas",
                        "/canvas",
                        "button",
                        "/button",
                        "progress",
                        "/progress",
                        "script",
                        "/script",
                        "noscript",
                        "/noscript",
                        "a",
                        "/a",
                    ]
                    .contains(&tag),
                    "unexpected tag <{tag} in {html}"
                );
            }
        }
    }

    #[test]
    fn a_host_away_says_when_the_room_closes() {
        let page = render_page(&view(RoomView::Live(LiveRoom {
            closes_in_secs: Some(12),
            ..LiveRoom::from(&RoomInfo {
                code: "ABC234".into(),
                players: 2,
                capacity: 6,
                host_connected: false,
                state: RoomState::HostAway,
                share_url: None,
                closes_in_secs: None,
            })
        })));
        assert!(page.html.contains("data-state=\"host_away\""));
        assert!(page.html.contains("The host is reconnecting"));
        assert!(page.html.contains("closes in 12 s"), "{}", page.html);
    }

    #[test]
    fn without_an_origin_no_url_is_made_up() {
        let page = render_page(&PageView {
            origin: None,
            ..view(live(1, 6, RoomStatus::WaitingForHost))
        });
        assert_eq!(meta(&page.html, "og:url"), None);
        assert_eq!(meta(&page.html, "og:image"), None);
        assert!(meta(&page.html, "og:title").is_some());
        assert!(page.html.contains("href=\"/?host\""));
    }
}

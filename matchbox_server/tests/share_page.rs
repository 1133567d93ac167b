//! The share link's page and its preview images, end to end: real HTTP and
//! websocket clients against `serve()` on `127.0.0.1:0`. The page is parsed
//! as a link preview bot reads it (its `<meta>` tags), and its image is
//! fetched and decoded.
//!
//! `--ignored screenshots` also writes docs/screenshots/share-page*.png with
//! headless Chromium, inside `scripts/loopback-netns`.

#[path = "support/client.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/rooms.rs; this file uses a part"
)]
mod client;

use bevy_p2p_signaling::{Limits, Rate, ServerConfig, ShareSettings, protocol::room};
use client::*;
use serde_json::json;
use std::{collections::HashMap, net::SocketAddr, path::Path};

/// A game title and description with everything HTML must not take raw.
const HOSTILE_TITLE: &str = "Space <script>alert(\"t\")</script> & 'Duel'";
const HOSTILE_DESCRIPTION: &str = "\"><img src=x onerror=alert(1)> Two ships & one star.";

/// A web root as `web/build.sh` writes it: the game page and its loader.
fn game_root() -> TempDir {
    let root = TempDir::new("share-web");
    std::fs::write(root.0.join("index.html"), "<html>game</html>").expect("write");
    std::fs::write(root.0.join("loader.js"), "// the game's loader\n").expect("write");
    root
}

/// A server of the game's web root ([`game_root`]) with `share`.
async fn serve_game(share: ShareSettings) -> (TempDir, bevy_p2p_signaling::RunningServer) {
    let root = game_root();
    let server = start(config(Some(&root.0), share)).await;
    (root, server)
}

fn config(web_root: Option<&Path>, share: ShareSettings) -> ServerConfig {
    ServerConfig {
        web_root: web_root.map(Path::to_path_buf),
        share,
        ..test_config()
    }
}

fn hostile() -> ShareSettings {
    ShareSettings {
        game_title: HOSTILE_TITLE.into(),
        game_description: HOSTILE_DESCRIPTION.into(),
        ..ShareSettings::default()
    }
}

/// HTML's five escapes undone.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The page's `<meta>` tags, `property` or `name` to `content`, unescaped.
/// Parsed loosely, as a preview bot does: any attribute order.
fn meta_tags(html: &str) -> HashMap<String, String> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(unescape(&tag[start..end]))
    };
    html.split("<meta ")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let key = attribute(tag, "property").or_else(|| attribute(tag, "name"))?;
            Some((key, attribute(tag, "content")?))
        })
        .collect()
}

/// The text between `<title>` and `</title>`, unescaped.
fn title(html: &str) -> String {
    let start = html.find("<title>").expect("a title") + "<title>".len();
    let end = html.find("</title>").expect("a title's end");
    unescape(&html[start..end])
}

/// The path of an absolute URL under `http://{addr}`.
fn path_under(url: &str, addr: SocketAddr) -> String {
    url.strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("{url} is not under http://{addr}"))
        .to_owned()
}

/// Fetches a PNG and returns its size, after checking its headers.
async fn fetch_png(addr: SocketAddr, path: &str) -> ((u32, u32), String, Vec<u8>) {
    let response = http_raw(addr, "GET", path, &[], "").await;
    assert_eq!(response.status, 200, "{path}: {}", response.head);
    assert_eq!(
        header_in(&response.head, "content-type").as_deref(),
        Some("image/png")
    );
    let reader = png::Decoder::new(std::io::Cursor::new(&response.body))
        .read_info()
        .unwrap_or_else(|e| panic!("{path} is not a PNG: {e}"));
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let mut reader = reader;
    reader.next_frame(&mut pixels).expect("the image decodes");
    let size = (reader.info().width, reader.info().height);
    let cache = header_in(&response.head, "cache-control").unwrap_or_default();
    (size, cache, response.body)
}

/// Waits (within [`WAIT`]) until room `code` counts `players`: the server
/// sends a websocket its id before it takes its seat.
async fn seated(addr: SocketAddr, code: &str, players: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while room_info(addr, code).await.1["players"] != json!(players) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{code} never had {players} players"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A room of six with its host and two guests seated.
async fn room_of_three(addr: SocketAddr) -> (bevy_p2p_signaling::CreatedRoom, Peer, [Peer; 2]) {
    let room = create_room(addr).await;
    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    let guests = [
        connect(addr, &room.code, None).await,
        connect(addr, &room.code, None).await,
    ];
    seated(addr, &room.code, 3).await;
    (room, host, guests)
}

/// `POST /api/rooms` for a room of two: the host and one friend.
async fn room_of_two(addr: SocketAddr) -> bevy_p2p_signaling::CreatedRoom {
    let created = http_with_body(addr, "POST", "/api/rooms", &[], r#"{"capacity":2}"#).await;
    assert_eq!(created.status, 201, "{created:?}");
    serde_json::from_str(&created.body).expect("a CreatedRoom")
}

/// The size a page declares for its `og:image`.
fn declared_size(tags: &HashMap<String, String>) -> (u32, u32) {
    let number = |key: &str| tags[key].parse::<u32>().expect("a number");
    (number("og:image:width"), number("og:image:height"))
}

#[tokio::test]
async fn a_live_room_page_has_its_preview_and_a_join_button() {
    let (_root, server) = serve_game(hostile()).await;
    let addr = server.local_addr();
    let (room, host, guests) = room_of_three(addr).await;

    let page = http(addr, "GET", &format!("/play/{}", room.code), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));
    let html = &page.body;
    // Nothing of the hostile title or description is markup.
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img"), "{html}");

    let play_now = format!("{HOSTILE_TITLE} - Play Now!");
    assert_eq!(title(html), play_now);
    let tags = meta_tags(html);
    assert_eq!(tags["og:title"], play_now);
    assert_eq!(tags["twitter:title"], play_now);
    assert_eq!(tags["og:type"], "website");
    assert_eq!(tags["twitter:card"], "summary_large_image");
    assert_eq!(tags["og:url"], format!("http://{addr}/play/{}", room.code));
    let description = &tags["og:description"];
    assert!(
        description.starts_with("\u{1F465} 3/6 players online - Waiting for players."),
        "{description}"
    );
    assert!(description.ends_with(HOSTILE_DESCRIPTION), "{description}");
    assert_eq!(&tags["twitter:description"], description);
    assert_eq!(tags["twitter:image"], tags["og:image"]);
    for element in [
        "<canvas id=\"arena\" tabindex=\"0\">",
        "<button id=\"p2p-join\"",
        "<progress id=\"p2p-progress\"",
        "<p id=\"p2p-no-webgl\" class=\"warning\" hidden>",
        "<script type=\"module\" src=\"/loader.js\"></script>",
        "data-players=\"3\" data-capacity=\"6\"",
        &format!("href=\"http://{addr}/?host\""),
    ] {
        assert!(html.contains(element), "{element} in {html}");
    }

    // The image is the room's card, a PNG of the declared size.
    let image = path_under(&tags["og:image"], addr);
    assert_eq!(image, format!("/play/{}/card.png", room.code));
    let (size, cache, _) = fetch_png(addr, &image).await;
    assert_eq!(size, declared_size(&tags));
    assert_eq!(size, (1200, 630));
    assert_eq!(cache, "public, max-age=30");

    // A code typed in lower case is the same room.
    let lower = http(
        addr,
        "GET",
        &format!("/play/{}", room.code.to_lowercase()),
        &[],
    )
    .await;
    assert_eq!(lower.status, 200);
    assert_eq!(
        meta_tags(&lower.body)["og:url"],
        format!("http://{addr}/play/{}", room.code)
    );
    // HEAD answers the same status, without a body.
    let head = http(addr, "HEAD", &format!("/play/{}", room.code), &[]).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    // `/` is still the game's own page.
    assert_eq!(http(addr, "GET", "/", &[]).await.body, "<html>game</html>");
    assert_eq!(room_info(addr, &room.code).await.1["players"], json!(3));
    for guest in guests {
        guest.close().await;
    }
    host.close().await;
}

#[tokio::test]
async fn a_crawler_fetching_the_page_takes_no_seat() {
    let (_root, server) = serve_game(ShareSettings::default()).await;
    let addr = server.local_addr();
    let room = room_of_two(addr).await;
    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    seated(addr, &room.code, 1).await;
    let page = format!("/play/{}", room.code);
    let card = format!("/play/{}/card.png", room.code);
    // Several bots unfurl the link, each fetching the page and its card.
    for _ in 0..3 {
        assert_eq!(http(addr, "GET", &page, &[]).await.status, 200);
        assert_eq!(http(addr, "HEAD", &page, &[]).await.status, 200);
        assert_eq!(http_raw(addr, "GET", &card, &[], "").await.status, 200);
    }
    assert_eq!(room_info(addr, &room.code).await.1["players"], json!(1));
    // The one free seat is still free: the friend gets it.
    let friend = connect(addr, &room.code, None).await;
    seated(addr, &room.code, 2).await;
    friend.close().await;
    host.close().await;
}

#[tokio::test]
async fn a_full_room_says_so_with_the_upgrade() {
    let (_root, server) = serve_game(hostile()).await;
    let addr = server.local_addr();
    let room = room_of_two(addr).await;
    let host = connect(addr, &room.code, Some(&room.host_token)).await;
    let friend = connect(addr, &room.code, None).await;
    seated(addr, &room.code, 2).await;

    let page = http(addr, "GET", &format!("/play/{}", room.code), &[]).await;
    // The link is right and the room is there: 200, so previews still show it.
    assert_eq!(page.status, 200);
    let html = &page.body;
    assert!(
        !html.contains("<script>alert") && !html.contains("<img"),
        "{html}"
    );
    assert_eq!(title(html), format!("{HOSTILE_TITLE} - This game is full"));
    assert!(html.contains("data-state=\"full\""), "{html}");
    assert!(html.contains(&room::upgrade_heading()), "{html}");
    assert!(html.contains(&room::upgrade_text()), "{html}");
    assert!(!html.contains("id=\"p2p-join\""), "no Join: {html}");
    assert!(!html.contains("<script"), "nothing to load: {html}");
    let tags = meta_tags(html);
    assert!(
        tags["og:description"].starts_with("\u{1F465} 2/2 players online - This game is full."),
        "{}",
        tags["og:description"]
    );
    let (size, _, _) = fetch_png(addr, &path_under(&tags["og:image"], addr)).await;
    assert_eq!(size, declared_size(&tags));
    friend.close().await;
    host.close().await;
}

#[tokio::test]
async fn unknown_and_malformed_codes_get_a_friendly_404() {
    let (_root, server) = serve_game(hostile()).await;
    let addr = server.local_addr();
    // No room has been made: every code is unknown.
    let unknown = http(addr, "GET", "/play/ABC234", &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let html = &unknown.body;
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    assert!(html.contains("<h1>Game not found</h1>"), "{html}");
    assert!(
        html.contains(&format!("href=\"http://{addr}/?host\"")),
        "{html}"
    );
    assert!(!html.contains("id=\"p2p-join\""), "{html}");
    let tags = meta_tags(html);
    assert_eq!(tags["og:title"], "Game not found");
    assert!(!tags.contains_key("og:url"), "no page to point at");
    // Its image is the game's own card.
    let image = path_under(&tags["og:image"], addr);
    assert_eq!(image, "/card.png");
    let (size, cache, _) = fetch_png(addr, &image).await;
    assert_eq!(size, declared_size(&tags));
    assert_eq!(cache, "public, max-age=300");
    // The card of a room that is not there is not there either.
    let card = http(addr, "GET", "/play/ABC234/card.png", &[]).await;
    assert_eq!(card.status, 404);

    for malformed in [
        "/play/not-a-code",
        "/play/ABC10O",
        "/play/%FF%FE",
        "/play/%3Cb%3E",
    ] {
        let page = http_raw(addr, "GET", malformed, &[], "").await;
        assert_eq!(page.status, 404, "{malformed}");
        let html = String::from_utf8(page.body).expect("UTF-8");
        assert!(
            html.contains("does not hold a game code"),
            "{malformed}: {html}"
        );
        assert!(!html.contains("<b>"), "{malformed}");
    }
}

#[tokio::test]
async fn page_and_card_lookups_spend_the_api_guessing_budget() {
    let root = game_root();
    let server = start(ServerConfig {
        limits: Limits {
            // Three misses, and no refill within the test.
            misses_per_address: Rate {
                per_minute: 1,
                burst: 3,
            },
            ..Limits::default()
        },
        ..config(Some(&root.0), ShareSettings::default())
    })
    .await;
    let addr = server.local_addr();
    let live = create_room(addr).await;
    // Live rooms are no misses.
    for _ in 0..5 {
        assert_eq!(
            http(addr, "GET", &format!("/play/{}", live.code), &[])
                .await
                .status,
            200
        );
    }
    // One miss by the page, one by the card, one by the API.
    assert_eq!(http(addr, "GET", "/play/ABC234", &[]).await.status, 404);
    assert_eq!(
        http(addr, "GET", "/play/ABC235/card.png", &[]).await.status,
        404
    );
    assert_eq!(room_info(addr, "ABC236").await.0, 404);
    // Spent: every lookup is refused now, a live room's too, by all three.
    let page = http(addr, "GET", &format!("/play/{}", live.code), &[]).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.header("retry-after").is_some());
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    assert!(page.body.contains("Please wait"), "{}", page.body);
    assert!(!page.body.contains(&live.code), "says nothing of the room");
    let card = http(addr, "GET", &format!("/play/{}/card.png", live.code), &[]).await;
    assert_eq!(card.status, 429);
    assert!(card.header("retry-after").is_some());
    assert_eq!(room_info(addr, &live.code).await.0, 429);
    // The game's own card names no room: still served.
    assert_eq!(
        http_raw(addr, "GET", "/card.png", &[], "").await.status,
        200
    );
}

#[tokio::test]
async fn without_the_game_the_page_previews_the_room() {
    let server = start(config(None, ShareSettings::default())).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let page = http(addr, "GET", &format!("/play/{}", room.code), &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(title(&page.body), "Arena - Play Now!");
    assert!(page.body.contains("data-state=\"waiting_for_host\""));
    for absent in ["id=\"p2p-join\"", "<canvas", "<script", "?host"] {
        assert!(!page.body.contains(absent), "{absent}: {}", page.body);
    }
    let tags = meta_tags(&page.body);
    assert!(tags["og:description"].starts_with("\u{1F465} 0/6 players online"));
    let (size, _, _) = fetch_png(addr, &path_under(&tags["og:image"], addr)).await;
    assert_eq!(size, declared_size(&tags));
}

#[tokio::test]
async fn urls_come_from_the_public_url_or_a_well_formed_host() {
    let root = game_root();
    let server = start(ServerConfig {
        public_url: Some("https://games.example.org/arena/".into()),
        ..config(Some(&root.0), ShareSettings::default())
    })
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let page = http(
        addr,
        "GET",
        &format!("/play/{}", room.code),
        &[("Host", "evil.example")],
    )
    .await;
    let tags = meta_tags(&page.body);
    let base = "https://games.example.org/arena";
    assert_eq!(tags["og:url"], format!("{base}/play/{}", room.code));
    assert_eq!(
        tags["og:image"],
        format!("{base}/play/{}/card.png", room.code)
    );
    assert!(!page.body.contains("evil.example"));

    // Without a public URL, a Host that is not a plain host[:port] makes no URL.
    let server = start(config(Some(&root.0), ShareSettings::default())).await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let path = format!("/play/{}", room.code);
    let forged = http(addr, "GET", &path, &[("Host", "x\"><b>bold</b>")]).await;
    assert_eq!(forged.status, 200);
    assert!(!forged.body.contains("<b>"), "{}", forged.body);
    let tags = meta_tags(&forged.body);
    assert!(!tags.contains_key("og:url") && !tags.contains_key("og:image"));
    // A plain one is used as it is.
    let named = http(addr, "GET", &path, &[("Host", "Play.Example.COM:8080")]).await;
    assert_eq!(
        meta_tags(&named.body)["og:url"],
        format!("http://play.example.com:8080/play/{}", room.code)
    );
}

#[tokio::test]
async fn an_operator_image_replaces_the_cards() {
    let dir = TempDir::new("share-image");
    let image = dir.0.join("card.png");
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, 600, 315);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("header");
        writer
            .write_image_data(&vec![40; 600 * 315 * 3])
            .expect("pixels");
    }
    std::fs::write(&image, &png).expect("write");
    let server = start(config(
        None,
        ShareSettings {
            game_image: Some(image),
            ..ShareSettings::default()
        },
    ))
    .await;
    let addr = server.local_addr();
    let room = create_room(addr).await;
    let page = http(addr, "GET", &format!("/play/{}", room.code), &[]).await;
    let tags = meta_tags(&page.body);
    assert_eq!(path_under(&tags["og:image"], addr), "/card.png");
    assert_eq!(declared_size(&tags), (600, 315));
    let (size, _, served) = fetch_png(addr, "/card.png").await;
    assert_eq!(size, (600, 315));
    assert_eq!(served, png);

    // Anything but a PNG is refused at start, as are bad settings.
    let not_png = dir.0.join("card.gif");
    std::fs::write(&not_png, b"GIF89a").expect("write");
    for share in [
        ShareSettings {
            game_image: Some(not_png),
            ..ShareSettings::default()
        },
        ShareSettings {
            game_image: Some(dir.0.join("missing.png")),
            ..ShareSettings::default()
        },
        ShareSettings {
            game_title: String::new(),
            ..ShareSettings::default()
        },
    ] {
        let refused = bevy_p2p_signaling::serve(config(None, share)).await;
        let error = refused.expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    }
}

/// Writes the screenshots in docs/screenshots: the page of a room with
/// three players and its card, as headless Chromium shows them. Sealed:
/// `scripts/loopback-netns cargo test -p bevy_p2p_signaling --test
/// share_page -- --ignored screenshots`.
#[tokio::test]
#[ignore = "writes docs/screenshots; needs chromium and scripts/loopback-netns"]
async fn screenshots() {
    assert!(
        std::env::var_os("P2P_SEALED_NETNS").is_some(),
        "run inside scripts/loopback-netns"
    );
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&docs).expect("docs/screenshots");
    let (_root, server) = serve_game(ShareSettings::default()).await;
    let addr = server.local_addr();
    let (room, host, guests) = room_of_three(addr).await;
    let (_, _, card) = fetch_png(addr, &format!("/play/{}/card.png", room.code)).await;
    std::fs::write(docs.join("share-card.png"), card).expect("write the card");

    let full = room_of_two(addr).await;
    let full_host = connect(addr, &full.code, Some(&full.host_token)).await;
    let full_guest = connect(addr, &full.code, None).await;
    seated(addr, &full.code, 2).await;
    for (file, path) in [
        ("share-page.png", format!("/play/{}", room.code)),
        ("share-page-full.png", format!("/play/{}", full.code)),
        ("share-page-not-found.png", "/play/ABC234".to_owned()),
    ] {
        chromium_screenshot(
            &format!("http://{addr}{path}"),
            &docs.join(file),
            "1200,800",
        )
        .await;
    }
    full_guest.close().await;
    full_host.close().await;
    for guest in guests {
        guest.close().await;
    }
    host.close().await;
}

/// What a room card costs the server: prints `card_bytes=... card_draw_ms=...
/// card_cached_ms=...`, the mean over 20 rooms of a first fetch (drawn)
/// and a second (from the cache), over loopback. Run it in release:
/// `scripts/loopback-netns cargo test --release -p bevy_p2p_signaling --test
/// share_page -- --ignored card_cost --nocapture`.
#[tokio::test]
#[ignore = "a measurement: prints figures"]
async fn card_cost() {
    const ROOMS: u32 = 20;
    let server = start(config(None, ShareSettings::default())).await;
    let addr = server.local_addr();
    let mut paths = Vec::new();
    for _ in 0..ROOMS {
        paths.push(format!("/play/{}/card.png", create_room(addr).await.code));
    }
    // Timed without the test's own decoding; each card is decoded after.
    let fetch = |path: String| async move {
        let started = std::time::Instant::now();
        let response = http_raw(addr, "GET", &path, &[], "").await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(response.status, 200, "{path}");
        (ms, response.body)
    };
    let (mut bytes, mut drawn_ms, mut cached_ms) = (0, 0.0, 0.0);
    for path in &paths {
        let (ms, png) = fetch(path.clone()).await;
        drawn_ms += ms;
        bytes += png.len();
        let reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .expect("a PNG");
        assert_eq!((reader.info().width, reader.info().height), (1200, 630));
    }
    for path in &paths {
        let (ms, _) = fetch(path.clone()).await;
        cached_ms += ms;
    }
    println!(
        "card_bytes={} card_draw_ms={:.2} card_cached_ms={:.2}",
        bytes / ROOMS as usize,
        drawn_ms / f64::from(ROOMS),
        cached_ms / f64::from(ROOMS)
    );
}

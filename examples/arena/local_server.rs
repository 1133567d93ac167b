//! The embedded default: when no signaling server answers at a loopback
//! address, the arena starts one in-process, so two terminals on one machine
//! play with nothing else running.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bevy_p2p_multiplayer::prelude::*;
use bevy_p2p_signaling::{BackgroundServer, ServerConfig, spawn_in_background};

/// Starts a server at the settings' address if none answers there and the
/// address is this machine's. Keep the returned server alive while playing.
pub fn ensure(settings: &P2pSettings) -> Option<BackgroundServer> {
    let health = format!("{}/healthz", settings.http_base());
    let request = ehttp::Request::get(&health).with_timeout(Some(Duration::from_millis(800)));
    if ehttp::fetch_blocking(&request).is_ok_and(|response| response.ok) {
        return None;
    }
    let bind = loopback_address(&settings.signaling_url)?;
    let web_root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist"));
    let config = ServerConfig {
        bind,
        host_grace: settings.host_grace,
        web_root: web_root.join("index.html").exists().then_some(web_root),
        ..Default::default()
    };
    match spawn_in_background(config) {
        Ok(server) => {
            println!(
                "No signaling server answered at {}: started one in this process on {}. \
                 It has only the games hosted on it: to join a game hosted elsewhere, \
                 start with --join CODE once that server is back.",
                settings.signaling_url,
                server.local_addr()
            );
            Some(server)
        }
        Err(e) => {
            eprintln!(
                "No signaling server at {} and starting one failed: {e}",
                settings.signaling_url
            );
            None
        }
    }
}

/// `ws://127.0.0.1:3536` → `127.0.0.1:3536`; `None` for other hosts, where
/// starting a server here would not help.
fn loopback_address(signaling_url: &str) -> Option<SocketAddr> {
    let url = url::Url::parse(signaling_url).ok()?;
    if url.scheme() != "ws" {
        return None;
    }
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => ip.into(),
        url::Host::Ipv6(ip) => ip.into(),
        url::Host::Domain("localhost") => std::net::IpAddr::from([127, 0, 0, 1]),
        url::Host::Domain(_) => return None,
    };
    let addr = SocketAddr::new(ip, url.port_or_known_default()?);
    addr.ip().is_loopback().then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_get_a_local_server() {
        assert_eq!(
            loopback_address("ws://127.0.0.1:3536"),
            Some("127.0.0.1:3536".parse().unwrap())
        );
        assert_eq!(
            loopback_address("ws://localhost:4000/"),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        assert_eq!(loopback_address("wss://play.example.com"), None);
        assert_eq!(loopback_address("ws://10.0.0.2:3536"), None);
    }
}

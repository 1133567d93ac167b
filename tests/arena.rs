//! The arena program as players start it, in its own process, over real
//! WebRTC through our signaling server (sealed, like every network test).

use core::time::Duration;

use bevy_p2p_signaling::{ServerConfig, spawn_in_background};

#[path = "support/arena.rs"]
mod arena;
#[path = "support/sealed.rs"]
mod sealed;

use arena::ArenaProcess;
use sealed::{sealed, wait};

/// `--bots N` fills the room of a host told to use another server than the
/// default one: the bots ask the host's server, and everyone takes its ICE
/// servers from it (the plugin's default; this server hands out none).
#[test]
fn bots_follow_their_host_to_any_server() {
    if !sealed("bots_follow_their_host_to_any_server") {
        return;
    }
    // Port 0: never the default 3536, never a fixed port.
    let server = spawn_in_background(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        ..Default::default()
    })
    .expect("the signaling server starts");
    let url = format!("ws://{}", server.local_addr());
    let mut host = ArenaProcess::start(["--host", "--bots", "2", "--server", &url]);
    wait(Duration::from_secs(60), "the host and two bots", || {
        host.poll();
        assert!(
            !host.lines().iter().any(|l| l.starts_with("join failed")),
            "a bot failed to join: {:?}",
            host.lines()
        );
        host.players() == 3
    });
    let code = host.code().expect("the host printed its code");
    println!("room {code} on {url}: {:?}", host.lines());
}

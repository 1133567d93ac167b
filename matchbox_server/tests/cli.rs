//! The binary: flags, and the `listening on` line scripts wait for.

use std::{process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    time::timeout,
};

/// Starts the server binary with `args` and `env`, and reads its address
/// from the `listening on` line.
async fn start_binary(
    args: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bevy_p2p_signaling"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the server binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a line in time")
        .expect("read stdout")
        .expect("a line before EOF");
    let addr: std::net::SocketAddr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .expect("an ip:port");
    (child, addr)
}

/// `POST /api/rooms` with no body: the answer's head and body.
async fn create_room(addr: std::net::SocketAddr) -> String {
    timeout(Duration::from_secs(5), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    })
    .await
    .expect("answer in time")
}

#[tokio::test]
async fn binary_prints_listening_on_its_real_address() {
    // The flag wins over its environment variable.
    let (mut child, addr) = start_binary(
        &["--bind", "127.0.0.1:0", "--capacity", "4"],
        &[("P2P_SIGNALING_CAPACITY", "3")],
    )
    .await;
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);

    // It really listens there, with the capacity from the flag.
    let created = create_room(addr).await;
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert!(created.contains("\"capacity\":4"), "{created}");
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn options_come_from_the_environment() {
    let (mut child, addr) = start_binary(
        &[],
        &[
            ("P2P_SIGNALING_BIND", "127.0.0.1:0"),
            ("P2P_SIGNALING_CAPACITY", "3"),
        ],
    )
    .await;
    assert_ne!(addr.port(), 0);
    let created = create_room(addr).await;
    assert!(created.contains("\"capacity\":3"), "{created}");
    child.kill().await.expect("kill");
}

#[test]
fn bad_flags_exit_with_a_clear_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bevy_p2p_signaling"))
        .args(["--capacity", "zero"])
        .output()
        .expect("run the server binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'zero' for '--capacity <N>'") && stderr.contains("--help"),
        "{stderr}"
    );
}

#[test]
fn settings_the_server_refuses_are_named() {
    for (args, says) in [
        (
            &["--public-url", "play.example.com"][..],
            "must start with http:// or https://",
        ),
        (
            &["--turn", "turn:198.51.100.1:3478"],
            "TURN servers need the secret they share with this server",
        ),
        (&["--stun", "http://x"], "`http://x` is not a STUN"),
        (&["--game-title", " "], "the game title must not be empty"),
        (
            &["--game-image", "/nonexistent/card.png"],
            "game image `/nonexistent/card.png`",
        ),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bevy_p2p_signaling"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("P2P_SIGNALING_TURN_SECRET")
            .output()
            .expect("run the server binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

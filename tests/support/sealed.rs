//! Keeps network tests inside a sealed network namespace.

use std::{
    process::Command,
    time::{Duration, Instant},
};

/// True when this process is in the sealed namespace and the test body
/// should run; otherwise runs `test` again inside one (through
/// `scripts/loopback-netns`) and asserts that it passed there.
pub fn sealed(test: &str) -> bool {
    if std::env::var("P2P_SEALED_NETNS").as_deref() == Ok("1") {
        return true;
    }
    // The workspace's script, from this crate's folder or a member's.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest
        .ancestors()
        .map(|dir| dir.join("scripts/loopback-netns"))
        .find(|script| script.exists())
        .expect("scripts/loopback-netns in the workspace");
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = Command::new(script)
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .status()
        .expect(
            "scripts/loopback-netns runs (needs unshare and ip, as root or with user namespaces)",
        );
    assert!(
        status.success(),
        "{test} failed inside the sealed namespace"
    );
    false
}

/// Polls `done` every 50 ms until it holds; panics at `limit`, so no test
/// waits forever. Prints how long it took.
#[allow(dead_code, reason = "not every test binary that is sealed waits")]
pub fn wait(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            println!("{what}: {:.1} s", start.elapsed().as_secs_f64());
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}");
}

//! The arena example as a program of its own, started by a test and followed
//! through the lines it prints (`code: ...`, `status: ... players: N`,
//! `player slot=... x=... y=...`). The process is killed when the value
//! drops, on a failed test too.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code, reason = "shared by several test binaries")]

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::Receiver,
};

/// A player's first and latest reported position, pixels.
pub type Travel = ((f32, f32), (f32, f32));

/// The arena program that `scripts/test` builds (`cargo build --example
/// arena`): `P2P_ARENA_BIN` when set, else `examples/arena` beside this
/// test's own binary in the target folder.
pub fn arena_program() -> PathBuf {
    if let Some(path) = std::env::var_os("P2P_ARENA_BIN") {
        return PathBuf::from(path);
    }
    // Integration tests live in target/<profile>/deps; examples beside.
    let exe = std::env::current_exe().expect("the test binary's path");
    let arena = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join("arena"))
        .expect("the target folder");
    assert!(
        arena.exists(),
        "{} is missing: build it with `cargo build --example arena` (scripts/test does)",
        arena.display()
    );
    arena
}

/// A running arena, headless, printing what happens.
pub struct ArenaProcess {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl ArenaProcess {
    /// Starts the arena with `args` (`--headless` is added).
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Self {
        let mut child = Command::new(arena_program())
            .arg("--headless")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the arena starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Takes in the lines printed since the last call.
    pub fn poll(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    /// Every line printed so far (as of the last [`Self::poll`]).
    pub fn lines(&self) -> &[String] {
        &self.seen
    }

    /// The share code, once the arena printed it.
    pub fn code(&self) -> Option<String> {
        self.seen
            .iter()
            .find_map(|l| l.strip_prefix("code: ").map(str::to_string))
    }

    /// Players in the room, as the latest status line says.
    pub fn players(&self) -> usize {
        self.seen
            .iter()
            .rev()
            .find_map(|l| {
                l.rsplit_once("players: ")
                    .and_then(|(_, n)| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Each slot's first and latest reported position (`--report-players`).
    pub fn travels(&self) -> BTreeMap<u8, Travel> {
        let mut travels = BTreeMap::new();
        for line in &self.seen {
            let Some(rest) = line.strip_prefix("player ") else {
                continue;
            };
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name))
                    .and_then(|v| v.parse::<f32>().ok())
            };
            let (Some(slot), Some(x), Some(y)) = (field("slot="), field("x="), field("y=")) else {
                continue;
            };
            let entry = travels.entry(slot as u8).or_insert(((x, y), (x, y)));
            entry.1 = (x, y);
        }
        travels
    }
}

impl Drop for ArenaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

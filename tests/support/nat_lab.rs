//! A sealed NAT lab: network namespaces made by the test, linked only to
//! each other, with documentation-range addresses.
//!
//! ```text
//!   home 192.168.r.2 ── router r (NAT) 198.51.100.(10+r) ─┐
//!                                                          ├─ br0 in "internet":
//!   public host 198.51.100.(100+n) ────────────────────────┘  198.51.100.1
//!                                                              (signaling, coturn)
//! ```
//!
//! Each namespace is held by a `sh` that exits when its stdin closes, so a
//! test that dies (even by SIGKILL) takes its namespaces with it; every
//! process started in one is wrapped the same way, and whatever is still
//! inside a namespace when the lab drops it is killed. Routers do NAT with
//! nftables: `masquerade` keeps the source port (an endpoint-independent
//! mapping, like most home routers), `masquerade fully-random` picks a new
//! port for every destination (a symmetric NAT). Both drop what comes in
//! unsolicited. IPv6 is off everywhere: the lab is one IPv4 internet.

#![allow(dead_code, reason = "each test binary uses part of the lab")]

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError, channel},
    thread,
    time::{Duration, Instant},
};

/// The lab's "internet" side of the bridge: signaling and coturn live here.
pub const INTERNET: &str = "198.51.100.1";

/// What stands between a player and the internet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Nat {
    /// A public address on the internet bridge itself.
    Public,
    /// A home router that keeps the source port (endpoint-independent
    /// mapping, address-and-port-dependent filtering).
    PortPreserving,
    /// A home router that maps every destination to a new port.
    Symmetric,
    /// A port-preserving router that also drops all UDP: only TCP gets out.
    BlocksUdp,
}

impl Nat {
    /// As in the matrix.
    pub fn name(self) -> &'static str {
        match self {
            Nat::Public => "no NAT (public)",
            Nat::PortPreserving => "port-preserving",
            Nat::Symmetric => "symmetric",
            Nat::BlocksUdp => "port-preserving, UDP blocked",
        }
    }
}

/// Programs the lab needs, with the Debian package of each.
pub const TOOLS: [(&str, &str); 5] = [
    ("/usr/bin/nsenter", "util-linux"),
    ("/usr/bin/unshare", "util-linux"),
    ("/usr/sbin/nft", "nftables"),
    ("/usr/bin/turnserver", "coturn"),
    ("/usr/bin/turnutils_uclient", "coturn"),
];

/// Panics naming what to install when a lab tool is missing.
pub fn require_tools() {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(path, _)| !std::path::Path::new(path).exists())
        .map(|(path, package)| format!("{path} (Debian package {package})"))
        .collect();
    assert!(
        missing.is_empty(),
        "the NAT lab needs {}; scripts/test installs them, or: apt-get install -y \
         --no-install-recommends nftables coturn",
        missing.join(", ")
    );
}

/// One network namespace, alive as long as its holder process.
pub struct Netns {
    pub label: String,
    holder: Child,
}

impl Netns {
    fn new(label: &str) -> Self {
        // `read` returns when the test closes the pipe or dies.
        let holder = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", "read _"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("unshare --net starts (needs root or user namespaces)");
        let netns = Self {
            label: label.to_owned(),
            holder,
        };
        // unshare has made the namespace once the holder runs `sh`.
        let start = Instant::now();
        while netns.is_fresh() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "namespace {label} not made"
            );
            thread::sleep(Duration::from_millis(5));
        }
        // Multicast on loopback: the native WebRTC stack opens an mDNS
        // socket, and fails to make a peer connection without a route for it.
        netns.run("ip link set lo up && ip link set lo multicast on");
        netns.run("ip route add 224.0.0.0/4 dev lo");
        netns.run("sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
        netns.run("sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
        netns
    }

    /// Whether the holder still shares this process's namespace (unshare
    /// has not got there yet).
    fn is_fresh(&self) -> bool {
        let ours = std::fs::read_link("/proc/self/ns/net").ok();
        let theirs = std::fs::read_link(format!("/proc/{}/ns/net", self.pid())).ok();
        theirs.is_none() || ours == theirs
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program` to run inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.pid().to_string(), "-n", "--"])
            .arg(program);
        command
    }

    /// Runs a shell line inside, which must succeed.
    pub fn run(&self, line: &str) {
        let output = self
            .command("sh")
            .args(["-c", line])
            .output()
            .expect("nsenter runs");
        assert!(
            output.status.success(),
            "[{}] {line}: {}",
            self.label,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts `program` inside, as a [`LabProcess`].
    pub fn spawn(
        &self,
        label: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> LabProcess {
        // The wrapper kills the program when the test closes its stdin or
        // dies; the program itself reads nothing (its stdin is /dev/null).
        let mut command = self.command("sh");
        command
            .args([
                "-c",
                r#""$@" </dev/null & p=$!; read _; kill $p 2>/dev/null; wait $p"#,
                "sh",
            ])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        LabProcess::start(format!("{}/{label}", self.label), command)
    }
}

impl Drop for Netns {
    /// Kills every process still inside the namespace (a browser that its
    /// driver started, say, which the wrappers do not see), then the holder.
    fn drop(&mut self) {
        if let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/net", self.pid())) {
            let own = std::process::id();
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                if pid == own || pid == self.pid() {
                    continue;
                }
                if std::fs::read_link(format!("/proc/{pid}/ns/net"))
                    .ok()
                    .as_ref()
                    == Some(&ns)
                {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A process in the lab, its output lines gathered as they come.
pub struct LabProcess {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line so far, stdout and stderr, for failure reports.
    pub log: Vec<String>,
}

impl LabProcess {
    fn start(label: String, mut command: Command) -> Self {
        let mut child = command.spawn().expect("nsenter starts");
        let (send, lines) = channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let send = send.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Self {
            label,
            child,
            stdin,
            lines,
            log: Vec::new(),
        }
    }

    /// What follows `marker` in the first line holding it, waiting up to
    /// `limit`; `None` if none came or the process ended first.
    pub fn expect_line(&mut self, marker: &str, limit: Duration) -> Option<String> {
        let after = |line: &str| {
            line.find(marker)
                .map(|at| line[at + marker.len()..].to_owned())
        };
        let deadline = Instant::now() + limit;
        if let Some(found) = self.log.iter().find_map(|l| after(l)) {
            return Some(found);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = after(&line);
                    self.log.push(line);
                    if found.is_some() {
                        return found;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Takes in what was printed so far without waiting.
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    /// The last `n` lines, for a failure message.
    pub fn tail(&mut self, n: usize) -> String {
        self.drain();
        let from = self.log.len().saturating_sub(n);
        format!("--- {} ---\n{}", self.label, self.log[from..].join("\n"))
    }

    /// Stops the process: closes its stdin (the wrapper kills it), then
    /// kills the wrapper if it has not ended within 5 s.
    pub fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The lab: the internet, and the routers and hosts added to it.
pub struct Lab {
    /// Processes first: they stop before their namespaces go.
    processes: Vec<LabProcess>,
    pub internet: Netns,
    routers: Vec<Netns>,
    hosts: Vec<Netns>,
    next_public: u8,
}

impl Lab {
    /// The internet alone: a bridge at [`INTERNET`].
    pub fn new() -> Self {
        require_tools();
        let internet = Netns::new("internet");
        internet.run(&format!(
            "ip link add br0 type bridge && ip addr add {INTERNET}/24 dev br0 && ip link set br0 up"
        ));
        Self {
            processes: Vec::new(),
            internet,
            routers: Vec::new(),
            hosts: Vec::new(),
            next_public: 100,
        }
    }

    /// A player's machine behind `nat`; returns its index for [`Self::host`].
    pub fn add_home(&mut self, nat: Nat) -> usize {
        let host = Netns::new(&format!("home{}", self.hosts.len() + 1));
        match nat {
            Nat::Public => {
                let address = format!("198.51.100.{}", self.next_public);
                self.next_public += 1;
                let port = format!("p{}", self.next_public);
                host.run(&format!(
                    "ip link add eth0 type veth peer name {port} netns {}",
                    self.internet.pid()
                ));
                // Its default route ends in the internet namespace, which
                // forwards nothing: the lab stays the whole world.
                host.run(&format!(
                    "ip addr add {address}/24 dev eth0 && ip link set eth0 up && \
                     ip route add default via {INTERNET}"
                ));
                self.internet.run(&format!(
                    "ip link set {port} master br0 && ip link set {port} up"
                ));
            }
            _ => {
                let r = self.routers.len() + 1;
                let router = Netns::new(&format!("router{r}"));
                let (wan, lan) = (format!("198.51.100.{}", 10 + r), format!("192.168.{r}"));
                let port = format!("r{r}");
                router.run(&format!(
                    "ip link add wan type veth peer name {port} netns {}",
                    self.internet.pid()
                ));
                self.internet.run(&format!(
                    "ip link set {port} master br0 && ip link set {port} up"
                ));
                router.run(&format!(
                    "ip addr add {wan}/24 dev wan && ip link set wan up"
                ));
                host.run(&format!(
                    "ip link add eth0 type veth peer name lan netns {}",
                    router.pid()
                ));
                router.run(&format!(
                    "ip addr add {lan}.1/24 dev lan && ip link set lan up"
                ));
                router.run("sysctl -qw net.ipv4.ip_forward=1");
                host.run(&format!(
                    "ip addr add {lan}.2/24 dev eth0 && ip link set eth0 up && \
                     ip route add default via {lan}.1"
                ));
                let mut nft = router.command("/usr/sbin/nft");
                nft.args(["-f", "-"]).stdin(Stdio::piped());
                let mut child = nft.spawn().expect("nft starts");
                child
                    .stdin
                    .take()
                    .expect("piped")
                    .write_all(ruleset(nat).as_bytes())
                    .expect("ruleset written");
                let output = child.wait_with_output().expect("nft ends");
                assert!(
                    output.status.success(),
                    "nft refused the ruleset for {nat:?}"
                );
                self.routers.push(router);
            }
        }
        self.hosts.push(host);
        self.hosts.len() - 1
    }

    /// A player's machine, by the index [`Self::add_home`] gave.
    pub fn host(&self, index: usize) -> &Netns {
        &self.hosts[index]
    }

    /// Keeps `process` until the lab ends.
    pub fn keep(&mut self, process: LabProcess) -> &mut LabProcess {
        self.processes.push(process);
        self.processes.last_mut().expect("just pushed")
    }

    /// The routers' connection tables, for a failure report.
    pub fn conntrack(&self) -> String {
        self.routers
            .iter()
            .map(|router| {
                let table = router
                    .command("cat")
                    .arg("/proc/net/nf_conntrack")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                format!("--- {} conntrack ---\n{table}", router.label)
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for process in &mut self.processes {
            process.stop();
        }
    }
}

/// A home router's nftables rules.
fn ruleset(nat: Nat) -> String {
    let masquerade = if nat == Nat::Symmetric {
        "masquerade fully-random"
    } else {
        "masquerade"
    };
    let block_udp = if nat == Nat::BlocksUdp {
        "iifname \"lan\" meta l4proto udp drop"
    } else {
        ""
    };
    format!(
        "table ip nat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"wan\" {masquerade}
  }}
}}
table ip filter {{
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname \"wan\" ct state new,invalid drop
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname \"wan\" ct state new,invalid drop
    {block_udp}
  }}
}}
"
    )
}

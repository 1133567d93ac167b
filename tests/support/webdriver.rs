//! Just enough WebDriver to drive Debian's headless Chromium from a test:
//! sessions, navigation, title, a click, key presses and screenshots.
//! Every request is bounded. Chromedriver runs in a process group of its
//! own, and dropping [`Chromedriver`] kills that whole group: the driver and
//! every Chromium it started, on a failed test too.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{Value, json};

/// A chromedriver process on a free loopback port.
pub struct Chromedriver {
    child: Child,
    base: String,
}

impl Chromedriver {
    /// Starts `chromedriver` (path from `CHROMEDRIVER`, else
    /// `/usr/bin/chromedriver`) and waits until it answers.
    pub fn start() -> Self {
        let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&path)
            .arg(format!("--port={port}"))
            // A group of its own (its id is the driver's pid): the browsers
            // it starts join it, so one signal stops them all.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{path} does not start ({e}): install Debian's chromium-driver (scripts/test does)"));
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(status) = request("GET", &format!("{}/status", driver.base), None)
                && status["value"]["ready"] == json!(true)
            {
                return driver;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not get ready within 15 s");
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: killing chromedriver alone would orphan its
        // Chromium processes, which keep running (and rendering) forever.
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A killed Chromium takes a moment to die (it has many threads to
        // tear down): wait until none of the group is alive, at most 5 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && live_in_group(self.child.id()) > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Processes of process group `group` that are still running (not zombies).
fn live_in_group(group: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid pgrp ...": comm may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first().is_some_and(|state| *state != "Z")
                && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group)
        })
        .count()
}

/// One headless Chromium window.
#[derive(Clone)]
pub struct Browser {
    session: String,
}

impl Browser {
    /// Opens a 1280x720 browser with the flags a sealed namespace needs.
    pub fn open(driver: &Chromedriver, profile: &Path) -> Self {
        Self::open_sized(driver, profile, (1280, 720))
    }

    /// Opens a browser whose window is `width` x `height` pixels.
    pub fn open_sized(driver: &Chromedriver, profile: &Path, size: (u32, u32)) -> Self {
        Self::open_with(driver, profile, size, &[])
    }

    /// Opens a browser with `extra` Chromium flags besides the usual ones.
    pub fn open_with(
        driver: &Chromedriver,
        profile: &Path,
        (width, height): (u32, u32),
        extra: &[&str],
    ) -> Self {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            // WebGL2 through SwiftShader, on a machine with no GPU.
            "--use-angle=swiftshader".into(),
            "--enable-unsafe-swiftshader".into(),
            // Plain IP candidates, which a native peer can use.
            "--disable-features=WebRtcHideLocalIpsWithMdns".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ]
        .into_iter()
        .chain(extra.iter().map(|flag| flag.to_string()))
        .collect::<Vec<_>>();
        let body = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": binary, "args": args },
                // The page's console, for `console`.
                "goog:loggingPrefs": { "browser": "ALL" }
            }}
        });
        let answer = request("POST", &format!("{}/session", driver.base), Some(body))
            .expect("chromedriver creates a session");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Self {
            session: format!("{}/session/{id}", driver.base),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        request(method, &format!("{}{path}", self.session), body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Resizes the window so that the page itself (the viewport) is
    /// `width` x `height` CSS pixels: the window's own bars come on top.
    pub fn set_viewport(&self, width: u32, height: u32) {
        let bars = self.call(
            "POST",
            "/execute/sync",
            Some(json!({
                "script": "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
                "args": []
            })),
        );
        let bar = |i: usize| bars["value"][i].as_u64().unwrap_or(0) as u32;
        self.call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width + bar(0), "height": height + bar(1) })),
        );
    }

    /// Navigates (returns once the page's load event fired).
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The page title: the arena writes its status there.
    pub fn title(&self) -> String {
        self.call("GET", "/title", None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Clicks the share page's Join button (`#p2p-join`) if the page has
    /// one; says whether it did. `index.html` has none: it starts by itself.
    #[allow(dead_code, reason = "not every browser test opens a share page")]
    pub fn join_if_offered(&self) -> bool {
        let found = self.call(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": "#p2p-join" })),
        );
        let Some(element) = found["value"]
            .as_array()
            .and_then(|all| all.first())
            .and_then(Value::as_object)
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return false;
        };
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
        true
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns its value.
    #[allow(dead_code, reason = "not every browser test runs scripts")]
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )["value"]
            .clone()
    }

    /// Throttles the browser's network (chromedriver's Chromium extension):
    /// `latency` added to each request, `download`/`upload` in bytes per second.
    #[allow(dead_code, reason = "only the benchmark throttles")]
    pub fn set_network_conditions(&self, latency: Duration, download: u64, upload: u64) {
        self.call(
            "POST",
            "/chromium/network_conditions",
            Some(json!({ "network_conditions": {
                "offline": false,
                "latency": latency.as_millis() as u64,
                "download_throughput": download,
                "upload_throughput": upload,
            }})),
        );
    }

    /// Clicks the game's canvas, giving it keyboard focus.
    pub fn click_canvas(&self) {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": "#arena" })),
        );
        let element = found["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("the page has the #arena canvas")
            .to_string();
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// Holds `key` down for `held`, then releases it.
    pub fn hold_key(&self, key: &str, held: Duration) {
        let actions = json!({ "actions": [{
            "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": key },
                { "type": "pause", "duration": held.as_millis() as u64 },
                { "type": "keyUp", "value": key }
            ]
        }]});
        self.call("POST", "/actions", Some(actions));
    }

    /// A PNG screenshot of the window.
    pub fn screenshot_png(&self) -> Vec<u8> {
        let shot = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().unwrap_or_default())
            .expect("the screenshot is base64")
    }

    /// Saves a PNG screenshot of the window.
    pub fn screenshot(&self, path: &Path) {
        std::fs::write(path, self.screenshot_png()).expect("the screenshot is written");
        println!("screenshot: {}", path.display());
    }

    /// The page's console messages since the last call (chromedriver's log
    /// endpoint), each as `LEVEL message`.
    #[allow(dead_code, reason = "not every browser test reads the console")]
    pub fn console(&self) -> Vec<String> {
        let log = self.call("POST", "/se/log", Some(json!({ "type": "browser" })));
        log["value"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                format!(
                    "{} {}",
                    entry["level"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Closes the browser.
    pub fn close(&self) {
        let _ = request("DELETE", &self.session, None);
    }
}

fn request(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let mut req = ehttp::Request::get(url);
    req.method = match method {
        "POST" => ehttp::Method::POST,
        "DELETE" => ehttp::Method::DELETE,
        _ => ehttp::Method::GET,
    };
    if let Some(body) = body {
        req.body = body.to_string().into_bytes();
        req.headers.insert("Content-Type", "application/json");
    }
    let req = req.with_timeout(Some(Duration::from_secs(60)));
    let response = ehttp::fetch_blocking(&req)?;
    let value: Value = serde_json::from_slice(&response.bytes).map_err(|e| e.to_string())?;
    if response.ok {
        Ok(value)
    } else {
        Err(format!("HTTP {}: {value}", response.status))
    }
}

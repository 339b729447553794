//! The browser-test harness: each test starts its own chromedriver on a free port, drives
//! Debian's headless Chromium through it with fantoccini, checks every page it loads
//! against the page contract (docs/pages.md) and with axe-core, and can save screenshots
//! to docs/screenshots/. `scripts/setup-browser-tests` installs what this needs.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What a missing piece of the harness tells the developer to do.
const SETUP_HINT: &str = "run scripts/setup-browser-tests (as root) to install Debian's \
     chromium and chromium-driver and axe-core (npm) into tests/browser/node_modules";

/// The folder of the package that owns the tests (api/); the repository is its parent.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("api/ has a parent")
        .to_path_buf()
}

pub fn axe_script_path() -> PathBuf {
    repository().join("tests/browser/node_modules/axe-core/axe.min.js")
}

pub fn screenshots_dir() -> PathBuf {
    repository().join("docs/screenshots")
}

/// The browser window (as `--window-size` sets it at start).
const WINDOW_WIDTH: u32 = 1280;
const WINDOW_HEIGHT: u32 = 1024;
/// A phone's width (issue 17): what [`Browser::phone`] narrows the window to.
pub const PHONE_WIDTH: u32 = 375;
const PHONE_HEIGHT: u32 = 812;
/// Screenshots show the whole page, but no more than this.
const SCREENSHOT_MAX_HEIGHT: u32 = 2400;

/// How long a page, an element or chromedriver may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// Fails the test, saying how to install them, when Chromium, ChromeDriver or axe-core
/// are missing: a browser test that cannot run must not pass.
fn require_installed() {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(Path::new(path).exists(), "{path} is missing: {SETUP_HINT}");
    }
    let axe = axe_script_path();
    assert!(axe.exists(), "{} is missing: {SETUP_HINT}", axe.display());
}

fn free_port() -> u16 {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// A running chromedriver (and the Chromium it starts), with its own browser profile.
/// Dropping it kills the whole process group and removes the profile, also when the test
/// panicked.
pub struct ChromeDriver {
    child: Child,
    pub port: u16,
    pub profile: PathBuf,
}

impl ChromeDriver {
    pub fn start() -> Self {
        require_installed();
        let profile = std::env::temp_dir().join(format!(
            "portal-browser-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).expect("a browser profile folder");
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop can end chromedriver and every
            // Chromium process it started with one signal.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} does not start ({e}): {SETUP_HINT}"));
        let mut driver = Self {
            child,
            port,
            profile,
        };
        driver.wait_until_listening();
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_listening(&mut self) {
        let start = Instant::now();
        let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        loop {
            if TcpStream::connect_timeout(&address.into(), Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}); port {}",
                    self.port
                );
            }
            assert!(
                start.elapsed() < PATIENCE,
                "chromedriver does not listen on port {} after {PATIENCE:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Chromium's settings: headless, quiet (no network calls of its own), a fixed
    /// window and a fresh profile.
    fn capabilities(&self) -> serde_json::Map<String, Value> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,1024",
        ]
        .into_iter()
        .map(str::to_string)
        .chain([format!("--user-data-dir={}", self.profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One axe-core rule that a page breaks.
#[derive(Debug)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    pub targets: Vec<String>,
}

/// A browser session on the portal at `base`. Every page loaded through it (`open`,
/// `click_and_load`, `submit`) is checked against the contract's page skeleton and with
/// axe-core before the test goes on.
pub struct Browser {
    pub client: Client,
    base: String,
    axe_source: String,
    /// Every page checked, for the test's log.
    pub checked: Vec<String>,
    driver: ChromeDriver,
    /// The window's size: the desktop's, or a phone's after [`Browser::phone`].
    window: (u32, u32),
}

impl Browser {
    pub async fn start(base: &str) -> Self {
        let driver = ChromeDriver::start();
        let axe_source =
            std::fs::read_to_string(axe_script_path()).expect("axe.min.js is readable");
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(driver.capabilities())
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("chromedriver starts no Chromium session: {e}"));
        Self {
            client,
            base: base.to_string(),
            axe_source,
            checked: Vec::new(),
            driver,
            window: (WINDOW_WIDTH, WINDOW_HEIGHT),
        }
    }

    /// Ends the session (Chromium quits); the driver is killed when `self` drops.
    pub async fn finish(self) {
        let Self {
            client,
            driver,
            checked,
            ..
        } = self;
        eprintln!("pages checked with axe-core: {checked:?}");
        let _ = client.close().await;
        drop(driver);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// From now on the window is a phone's (375 × 812), screenshots too.
    pub async fn phone(&mut self) {
        self.resize((PHONE_WIDTH, PHONE_HEIGHT)).await;
    }

    /// Back to the desktop's window (1280 × 1024).
    pub async fn desktop(&mut self) {
        self.resize((WINDOW_WIDTH, WINDOW_HEIGHT)).await;
    }

    async fn resize(&mut self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resize to {width} × {height}: {e}"));
        self.window = (width, height);
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Loads a page by its path and checks it.
    pub async fn open(&mut self, path: &str) {
        let url = self.url(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.page_loaded().await;
    }

    /// Loads a page without the page checks (for JSON or plain answers).
    pub async fn open_unchecked(&self, path: &str) {
        let url = self.url(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    }

    /// Clicks what `css` finds (a link or a submit button), waits for the next document
    /// to load and checks it.
    pub async fn click_and_load(&mut self, css: &str) {
        self.mark_document_stale().await;
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.wait_for_new_document(css).await;
        self.page_loaded().await;
    }

    /// Clicks what `css` finds and waits for the next document, without the page checks
    /// (a page that is not the portal's, like the bank's, or one that posts to it).
    pub async fn click_and_wait(&mut self, css: &str) {
        self.mark_document_stale().await;
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.wait_for_new_document(css).await;
    }

    /// Waits until the portal shows a page whose path starts with `prefix` (after
    /// redirects and auto-submitting forms elsewhere), then checks it.
    pub async fn wait_for_portal_page(&mut self, prefix: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let url = self.client.current_url().await.expect("current URL");
            let here = url.as_str().to_string();
            let ready = self
                .client
                .execute("return document.readyState;", vec![])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            if here.starts_with(&self.base)
                && url.path().starts_with(prefix)
                && ready.as_deref() == Some("complete")
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the portal's {prefix}… never came; the browser is on {here}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.page_loaded().await;
    }

    /// Presses and releases a key on whatever has the focus, as a keyboard user would
    /// (no wait and no page check: a key may or may not load a page).
    pub async fn press(&self, key: Key) {
        let actions = KeyActions::new("keyboard".to_string())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client
            .perform_actions(actions)
            .await
            .expect("key actions performed");
    }

    /// Tags the shown document, so that a wait can tell when another one has replaced it
    /// (a form posted back to the same URL, say).
    async fn mark_document_stale(&self) {
        self.client
            .execute(
                "document.documentElement.dataset.staleForTest = '1';",
                vec![],
            )
            .await
            .expect("the document can be tagged");
    }

    async fn wait_for_new_document(&self, what: &str) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("html:not([data-stale-for-test]) body"))
            .await
            .unwrap_or_else(|e| panic!("no new page loaded after {what}: {e}"));
    }

    /// Waits for an element to appear.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let path = self.path().await;
                let shown = self.shown_text().await;
                panic!("{css} is not on {path} ({e}); the page shows:\n{shown}");
            }
        }
    }

    /// The text of the page's <main> (or body), cut short, for failure messages.
    pub async fn shown_text(&self) -> String {
        let text = self
            .client
            .execute(
                "const m = document.querySelector('main') || document.body;
                 return m ? m.innerText : '';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        text.chars().take(1500).collect()
    }

    /// Finds an element now, without waiting (for what must be absent).
    pub async fn find_now(&self, css: &str) -> Option<Element> {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => Some(element),
            Err(CmdError::Standard(w))
                if w.error == fantoccini::error::ErrorStatus::NoSuchElement =>
            {
                None
            }
            Err(e) => panic!("find {css}: {e}"),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find all {css}: {e}"))
    }

    /// The visible text of an element.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("attribute {name} of {css}: {e}"))
    }

    /// The current value of a form control.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .unwrap_or_default()
    }

    /// Types into a field (after clearing it), as a person would.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        if !text.is_empty() {
            field
                .send_keys(text)
                .await
                .unwrap_or_else(|e| panic!("type into {css}: {e}"));
        }
    }

    /// Clicks without waiting for a page (a radio button, a checkbox).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// `<html lang>` of the page shown.
    pub async fn lang(&self) -> String {
        self.attr("html", "lang").await.unwrap_or_default()
    }

    /// Runs a script in the page and answers its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// What every page of docs/pages.md has, then axe-core.
    pub async fn page_loaded(&mut self) {
        let path = self.path().await;
        let skeleton = self
            .eval(
                r##"
                const body = document.body;
                const first = body && body.firstElementChild;
                return {
                    lang: document.documentElement.getAttribute('lang'),
                    main: document.querySelectorAll('main#main').length,
                    h1: document.querySelectorAll('h1').length,
                    skipFirst: !!first && first.matches('a.skip-link[href="#main"]'),
                    skipAnywhere: document.querySelectorAll('a.skip-link[href="#main"]').length,
                    formsWithoutCsrf: [...document.querySelectorAll('form')]
                        .filter((f) => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
                        .filter((f) => {
                            const t = f.querySelector('input[type="hidden"][name="csrf_token"]');
                            return !t || t.value.length < 32;
                        })
                        .map((f) => f.getAttribute('action') || '(no action)'),
                };"##,
            )
            .await;
        let problems: Vec<&str> = [
            (
                !matches!(skeleton["lang"].as_str(), Some("el" | "en")),
                "<html lang> is neither el nor en",
            ),
            (skeleton["main"] != 1, "not exactly one <main id=\"main\">"),
            (skeleton["h1"] != 1, "not exactly one <h1>"),
            (
                skeleton["formsWithoutCsrf"]
                    .as_array()
                    .is_some_and(|forms| !forms.is_empty()),
                "a POST form has no csrf_token (or an empty one): see formsWithoutCsrf",
            ),
            (
                skeleton["skipFirst"] != true,
                "the skip link a.skip-link[href=\"#main\"] is not the first element of <body>",
            ),
        ]
        .into_iter()
        .filter_map(|(wrong, what)| wrong.then_some(what))
        .collect();
        assert!(
            problems.is_empty(),
            "{path} breaks the page contract (docs/pages.md): {problems:?} ({skeleton})"
        );
        self.assert_accessible().await;
    }

    /// Injects axe-core (not subject to the page's CSP: WebDriver evaluates the script
    /// itself) and fails on any serious or critical violation.
    pub async fn assert_accessible(&mut self) {
        let path = self.path().await;
        let violations = self.axe_violations().await;
        let serious: Vec<&Violation> = violations
            .iter()
            .filter(|v| matches!(v.impact.as_str(), "serious" | "critical"))
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core finds serious or critical violations on {path}:\n{}",
            serious
                .iter()
                .map(|v| format!(
                    "  - {} ({}): {} at {}",
                    v.id,
                    v.impact,
                    v.help,
                    v.targets.join(", ")
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if !violations.is_empty() {
            eprintln!(
                "axe-core on {path}: minor or moderate: {:?}",
                violations
                    .iter()
                    .map(|v| format!("{} ({})", v.id, v.impact))
                    .collect::<Vec<_>>()
            );
        }
        self.checked.push(path);
    }

    pub async fn axe_violations(&self) -> Vec<Violation> {
        let loaded = self.eval("return typeof window.axe === 'object';").await;
        if loaded != true {
            // The file's text as the body of the function WebDriver runs: axe.min.js
            // installs `window.axe`.
            self.client
                .execute(&self.axe_source, vec![])
                .await
                .unwrap_or_else(|e| panic!("axe-core does not load into the page: {e}"));
        }
        let result = self
            .client
            .execute_async(
                r#"
                const done = arguments[arguments.length - 1];
                window.axe
                    .run(document, { resultTypes: ['violations'] })
                    .then((r) => done({ violations: r.violations.map((v) => ({
                        id: v.id,
                        impact: v.impact || 'unknown',
                        help: v.help,
                        targets: v.nodes.map((n) => n.target.join(' ')),
                    })) }))
                    .catch((e) => done({ error: String(e) }));"#,
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("axe.run() fails: {e}"));
        if let Some(error) = result.get("error") {
            panic!("axe.run() fails: {error}");
        }
        result["violations"]
            .as_array()
            .expect("axe answers a list")
            .iter()
            .map(|v| Violation {
                id: v["id"].as_str().unwrap_or_default().to_string(),
                impact: v["impact"].as_str().unwrap_or_default().to_string(),
                help: v["help"].as_str().unwrap_or_default().to_string(),
                targets: v["targets"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Saves the whole page (up to `SCREENSHOT_MAX_HEIGHT`) as
    /// docs/screenshots/{name}.png, as wide as the window (1280 pixels, or a phone's 375):
    /// the window grows to the page's height for the picture and then returns to its size.
    pub async fn screenshot(&self, name: &str) {
        let sizes = self
            .eval(
                "return [document.documentElement.scrollHeight,
                         window.outerHeight - window.innerHeight];",
            )
            .await;
        let (width, window_height) = self.window;
        let page_height = sizes[0].as_u64().unwrap_or(window_height as u64) as u32;
        let frame = sizes[1].as_u64().unwrap_or(0) as u32;
        let height = (page_height + frame).clamp(window_height, SCREENSHOT_MAX_HEIGHT);
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resize for screenshot {name}: {e}"));
        let png = self.client.screenshot().await;
        self.client
            .set_window_size(width, window_height)
            .await
            .unwrap_or_else(|e| panic!("resize after screenshot {name}: {e}"));
        let png = png.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("docs/screenshots/ can be created");
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    }
}

//! The sandbox mail server: an SMTP sink over TCP that accepts what the portal sends and
//! keeps every message in memory, so tests and demos can read which notices went out.
//!
//! SMTP (RFC 5321, the subset a submitting client needs): greeting `220`, `EHLO`/`HELO`
//! (advertising `8BITMIME` and `SMTPUTF8`), `MAIL FROM`, `RCPT TO`, `DATA` (ends at a
//! line holding only a dot; dot-stuffed lines are unstuffed), `RSET`, `NOOP`, `QUIT`;
//! known but unsupported commands (`VRFY`, `STARTTLS`, `AUTH`…) answer `502`, anything
//! else `500`. No TLS and no authentication: it listens on the loopback for tests.
//!
//! Control over HTTP: `GET /messages` lists what arrived (`from`, `to`, `subject`, `body`,
//! `message_id`, `received_at`, `raw`), `DELETE /messages` forgets it, `GET|PUT /faults`
//! with `{"down": bool, "slow_ms": n, "fail_next": n, "reject_next": n}`: down answers
//! `421` to new connections and closes them, slow delays every reply, fail_next answers
//! `451` (temporary, not stored) and reject_next `554` (permanent) to the next n messages.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::RunningSandbox;

/// RFC 5321 §4.5.3.1.4 allows 512 octets for a command line; SMTPUTF8 addresses take more
/// octets per character, so the sink is a little more generous.
const MAX_COMMAND_LINE: u64 = 2048;
/// Larger messages are refused with `552` (the portal only sends short notices).
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
const MAX_RECIPIENTS: usize = 100;
const SERVER_NAME: &str = "mail.sandbox.local";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MailFaults {
    pub down: bool,
    pub slow_ms: u64,
    pub fail_next: u32,
    pub reject_next: u32,
}

/// A message the sink accepted: the envelope, the raw message and the fields a test
/// checks, decoded (RFC 2047 subject, quoted-printable or base64 body, line breaks as `\n`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets; empty for `<>`.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    pub subject: String,
    /// The first text part, decoded to UTF-8, with CRLF line breaks turned into `\n`.
    pub body: String,
    /// The Message-ID header as written, with its angle brackets; empty when missing.
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    /// The message as it arrived after dot-unstuffing (lossy UTF-8 for 8-bit bytes).
    pub raw: String,
}

#[derive(Default)]
struct Mailbox {
    faults: MailFaults,
    messages: Vec<ReceivedMail>,
}

/// The sink's state, shared by the SMTP sessions, the HTTP control and tests that read
/// messages or flip switches directly.
#[derive(Clone, Default)]
pub struct MailSandbox {
    mailbox: Arc<Mutex<Mailbox>>,
}

impl MailSandbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// The HTTP control: `/messages` and `/faults`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/messages", get(list_messages).delete(clear_messages))
            .route("/faults", get(get_faults).put(put_faults))
            .with_state(self.clone())
    }

    pub fn faults(&self) -> MailFaults {
        self.lock().faults.clone()
    }

    pub fn set_faults(&self, faults: MailFaults) {
        self.lock().faults = faults;
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.lock().messages.clone()
    }

    pub fn clear(&self) {
        self.lock().messages.clear();
    }

    /// Accepts SMTP connections on `listener` until the returned future is dropped; each
    /// session runs in a task owned by this future, so dropping it ends them all.
    pub async fn serve_smtp(self, listener: TcpListener) {
        let mut sessions = JoinSet::new();
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let sandbox = self.clone();
                    sessions.spawn(async move {
                        if let Err(e) = sandbox.session(stream).await {
                            tracing::debug!(%peer, error = %e, "mail sandbox session ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mail sandbox could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            while sessions.try_join_next().is_some() {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mailbox> {
        self.mailbox.lock().expect("mail sandbox lock")
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, write) = stream.into_split();
        Session {
            sandbox: self,
            reader: BufReader::new(read),
            writer: write,
            greeted: false,
            envelope: None,
        }
        .run()
        .await
    }

    /// Applies the DATA-end fault switches, then stores the message. Returns the reply.
    fn deliver(&self, from: String, to: Vec<String>, raw: Vec<u8>) -> &'static str {
        let mut mailbox = self.lock();
        if mailbox.faults.fail_next > 0 {
            mailbox.faults.fail_next -= 1;
            return "451 4.3.0 temporary failure, message not accepted (sandbox fault)";
        }
        if mailbox.faults.reject_next > 0 {
            mailbox.faults.reject_next -= 1;
            return "554 5.6.0 message refused (sandbox fault)";
        }
        mailbox.messages.push(parse(from, to, raw));
        "250 2.0.0 message accepted"
    }
}

fn parse(from: String, to: Vec<String>, raw: Vec<u8>) -> ReceivedMail {
    let parsed = mail_parser::MessageParser::default().parse(&raw);
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or_default()
        .to_string();
    let body = parsed
        .as_ref()
        .and_then(|m| m.body_text(0))
        .map(|text| text.replace("\r\n", "\n"))
        .unwrap_or_default();
    let message_id = parsed
        .as_ref()
        .and_then(|m| m.message_id())
        .map(|id| format!("<{id}>"))
        .unwrap_or_default();
    ReceivedMail {
        from,
        to,
        subject,
        body,
        message_id,
        received_at: Utc::now(),
        raw: String::from_utf8_lossy(&raw).into_owned(),
    }
}

/// One mail transaction in progress: `MAIL FROM` seen, recipients so far.
struct Envelope {
    from: String,
    to: Vec<String>,
}

struct Session<'a, R, W> {
    sandbox: &'a MailSandbox,
    reader: BufReader<R>,
    writer: W,
    greeted: bool,
    envelope: Option<Envelope>,
}

/// What reading one line gave.
enum Line {
    Complete(Vec<u8>),
    TooLong,
    Closed,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<'_, R, W> {
    async fn run(mut self) -> std::io::Result<()> {
        if self.sandbox.faults().down {
            self.reply("421 4.3.2 service not available").await?;
            return self.writer.shutdown().await;
        }
        self.reply(&format!("220 {SERVER_NAME} ESMTP sandbox ready"))
            .await?;
        loop {
            let line = match self.read_line(MAX_COMMAND_LINE).await? {
                Line::Complete(line) => line,
                Line::Closed => return Ok(()),
                Line::TooLong => {
                    self.reply("500 5.5.2 line too long").await?;
                    return self.writer.shutdown().await;
                }
            };
            let Ok(line) = String::from_utf8(line) else {
                self.reply("500 5.5.2 command is not valid UTF-8").await?;
                continue;
            };
            let line = line.trim_end_matches(['\r', '\n']);
            let (verb, argument) = match line.split_once(' ') {
                Some((verb, argument)) => (verb, argument.trim()),
                None => (line, ""),
            };
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if argument.is_empty() => {
                    self.reply("501 5.5.4 a domain or address literal is required")
                        .await?;
                }
                "EHLO" => {
                    self.greeted = true;
                    self.envelope = None;
                    let reply = format!(
                        "250-{SERVER_NAME} greets {argument}\r\n250-8BITMIME\r\n250 SMTPUTF8"
                    );
                    self.reply(&reply).await?;
                }
                "HELO" => {
                    self.greeted = true;
                    self.envelope = None;
                    self.reply(&format!("250 {SERVER_NAME}")).await?;
                }
                "MAIL" => self.mail_from(argument).await?,
                "RCPT" => self.rcpt_to(argument).await?,
                "DATA" if !argument.is_empty() => {
                    self.reply("501 5.5.4 DATA takes no argument").await?;
                }
                "DATA" => {
                    if !self.data().await? {
                        return self.writer.shutdown().await;
                    }
                }
                "RSET" => {
                    self.envelope = None;
                    self.reply("250 2.0.0 reset").await?;
                }
                "NOOP" => self.reply("250 2.0.0 ok").await?,
                "QUIT" => {
                    self.reply(&format!("221 2.0.0 {SERVER_NAME} closing"))
                        .await?;
                    return self.writer.shutdown().await;
                }
                "VRFY" | "EXPN" | "HELP" | "TURN" | "STARTTLS" | "AUTH" | "BDAT" | "ETRN" => {
                    self.reply("502 5.5.1 command not implemented").await?;
                }
                _ => self.reply("500 5.5.2 command not recognised").await?,
            }
        }
    }

    async fn mail_from(&mut self, argument: &str) -> std::io::Result<()> {
        if !self.greeted {
            return self.reply("503 5.5.1 send EHLO or HELO first").await;
        }
        if self.envelope.is_some() {
            return self.reply("503 5.5.1 a transaction is already open").await;
        }
        match path(argument, "FROM:") {
            // Parameters such as BODY=8BITMIME, SMTPUTF8 or SIZE= are accepted as given.
            Some(from) => {
                self.envelope = Some(Envelope {
                    from,
                    to: Vec::new(),
                });
                self.reply("250 2.1.0 sender ok").await
            }
            None => self.reply("501 5.5.4 syntax: MAIL FROM:<address>").await,
        }
    }

    async fn rcpt_to(&mut self, argument: &str) -> std::io::Result<()> {
        let Some(envelope) = self.envelope.as_mut() else {
            return self.reply("503 5.5.1 send MAIL FROM first").await;
        };
        match path(argument, "TO:") {
            Some(to) if !to.is_empty() && envelope.to.len() < MAX_RECIPIENTS => {
                envelope.to.push(to);
                self.reply("250 2.1.5 recipient ok").await
            }
            Some(to) if !to.is_empty() => self.reply("452 4.5.3 too many recipients").await,
            _ => self.reply("501 5.1.3 syntax: RCPT TO:<address>").await,
        }
    }

    /// Reads the message after `354`. Returns false when the session must close
    /// (the client went away or sent more than the sink keeps).
    async fn data(&mut self) -> std::io::Result<bool> {
        let Some(envelope) = self.envelope.take_if(|e| !e.to.is_empty()) else {
            self.reply("503 5.5.1 send MAIL FROM and RCPT TO first")
                .await?;
            return Ok(true);
        };
        self.reply("354 end data with <CR><LF>.<CR><LF>").await?;
        let mut raw = Vec::new();
        loop {
            let budget = (MAX_MESSAGE_BYTES + 3).saturating_sub(raw.len()) as u64;
            let line = match self.read_line(budget).await? {
                Line::Complete(line) => line,
                Line::Closed => return Ok(false),
                Line::TooLong => {
                    self.reply("552 5.3.4 message too big").await?;
                    return Ok(false);
                }
            };
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            // RFC 5321 §4.5.2: a line the client began with an extra dot loses it.
            let line = line.strip_prefix(b".").unwrap_or(&line);
            raw.extend_from_slice(line);
        }
        let reply = self.sandbox.deliver(envelope.from, envelope.to, raw);
        self.reply(reply).await?;
        Ok(true)
    }

    /// Reads up to and including the next LF, at most `limit` bytes.
    async fn read_line(&mut self, limit: u64) -> std::io::Result<Line> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(Line::Closed);
        }
        if line.last() != Some(&b'\n') {
            return Ok(if read as u64 >= limit {
                Line::TooLong
            } else {
                Line::Closed
            });
        }
        Ok(Line::Complete(line))
    }

    /// Writes one reply (possibly multi-line, lines joined by CRLF), after the `slow_ms`
    /// delay when that switch is on.
    async fn reply(&mut self, reply: &str) -> std::io::Result<()> {
        let slow_ms = self.sandbox.faults().slow_ms;
        if slow_ms > 0 {
            tokio::time::sleep(Duration::from_millis(slow_ms)).await;
        }
        self.writer.write_all(reply.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await?;
        self.writer.flush().await
    }
}

/// Parses `FROM:<address> params` or `TO:<address> params` (the keyword case-insensitive,
/// a space after the colon tolerated) into the address without its brackets.
fn path(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    let address = &inner[..end];
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(address.to_string())
}

async fn list_messages(State(sandbox): State<MailSandbox>) -> Json<Vec<ReceivedMail>> {
    Json(sandbox.messages())
}

async fn clear_messages(State(sandbox): State<MailSandbox>) -> StatusCode {
    sandbox.clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sandbox): State<MailSandbox>) -> Json<MailFaults> {
    Json(sandbox.faults())
}

async fn put_faults(
    State(sandbox): State<MailSandbox>,
    Json(faults): Json<MailFaults>,
) -> Json<MailFaults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

/// The mail sandbox listening: SMTP on one port, the HTTP control on another. Dropping
/// it stops both, and every open SMTP session.
pub struct RunningMailSandbox {
    pub smtp_address: SocketAddr,
    pub http_address: SocketAddr,
    sandbox: MailSandbox,
    smtp_task: JoinHandle<()>,
    _http: RunningSandbox,
}

impl RunningMailSandbox {
    /// `smtp://127.0.0.1:PORT`, the URL the portal's mailer is configured with.
    pub fn smtp_url(&self) -> String {
        format!("smtp://{}", self.smtp_address)
    }

    /// The HTTP control's base, e.g. `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_address)
    }

    /// Reads messages and sets faults without going through HTTP.
    pub fn sandbox(&self) -> &MailSandbox {
        &self.sandbox
    }
}

impl Drop for RunningMailSandbox {
    fn drop(&mut self) {
        self.smtp_task.abort();
    }
}

/// Starts the sink on `smtp_bind` and its HTTP control on `http_bind` (port 0 picks a
/// free port).
pub async fn start(
    smtp_bind: SocketAddr,
    http_bind: SocketAddr,
) -> std::io::Result<RunningMailSandbox> {
    let sandbox = MailSandbox::new();
    let listener = TcpListener::bind(smtp_bind).await?;
    let smtp_address = listener.local_addr()?;
    let http = crate::serve(sandbox.router(), http_bind).await?;
    let smtp_task = tokio::spawn(sandbox.clone().serve_smtp(listener));
    Ok(RunningMailSandbox {
        smtp_address,
        http_address: http.address,
        sandbox,
        smtp_task,
        _http: http,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn running() -> RunningMailSandbox {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        start(local, local).await.expect("mail sandbox starts")
    }

    /// A bare SMTP client: sends a line, reads one (possibly multi-line) reply.
    struct Client {
        reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
        writer: tokio::net::tcp::OwnedWriteHalf,
    }

    impl Client {
        async fn connect(sandbox: &RunningMailSandbox) -> (Self, String) {
            let stream = TcpStream::connect(sandbox.smtp_address).await.unwrap();
            let (read, writer) = stream.into_split();
            let mut client = Self {
                reader: BufReader::new(read),
                writer,
            };
            let greeting = client.reply().await;
            (client, greeting)
        }

        async fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).await.unwrap() == 0 {
                    return all;
                }
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        }

        async fn send(&mut self, line: &str) -> String {
            self.writer.write_all(line.as_bytes()).await.unwrap();
            self.writer.write_all(b"\r\n").await.unwrap();
            self.reply().await
        }
    }

    #[tokio::test]
    async fn a_raw_smtp_session_stores_the_unstuffed_8bit_message() {
        let sandbox = running().await;
        let (mut smtp, greeting) = Client::connect(&sandbox).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert!(smtp.send("MAIL FROM:<a@b.gr>").await.starts_with("503"));
        let ehlo = smtp.send("EHLO client.test").await;
        assert!(
            ehlo.contains("250-8BITMIME") && ehlo.contains("250 SMTPUTF8"),
            "{ehlo}"
        );
        assert!(smtp.send("DATA").await.starts_with("503"));
        assert!(smtp
            .send("MAIL FROM:<noreply@dimos.example.gr> BODY=8BITMIME")
            .await
            .starts_with("250"));
        assert!(smtp
            .send("RCPT TO:<polites@example.gr>")
            .await
            .starts_with("250"));
        assert!(smtp
            .send("RCPT TO:<δοκιμή@example.gr>")
            .await
            .starts_with("250"));
        assert!(smtp.send("DATA").await.starts_with("354"));
        let data = "Subject: =?utf-8?b?zpXPgM65zrLOtc6yzrHOr8+Jz4POtw==?=\r\n\
                    Message-ID: <abc@portal.local>\r\n\
                    Content-Type: text/plain; charset=utf-8\r\n\
                    Content-Transfer-Encoding: 8bit\r\n\r\n\
                    Καλημέρα\r\n..τελεία στην αρχή\r\n.\r\n";
        smtp.writer.write_all(data.as_bytes()).await.unwrap();
        assert!(smtp.reply().await.starts_with("250"));
        assert!(smtp.send("NOOP").await.starts_with("250"));
        assert!(smtp.send("VRFY x").await.starts_with("502"));
        assert!(smtp.send("FOO").await.starts_with("500"));
        assert!(smtp.send("RSET").await.starts_with("250"));
        assert!(smtp.send("QUIT").await.starts_with("221"));

        let messages = sandbox.sandbox().messages();
        assert_eq!(messages.len(), 1);
        let mail = &messages[0];
        assert_eq!(mail.from, "noreply@dimos.example.gr");
        assert_eq!(mail.to, ["polites@example.gr", "δοκιμή@example.gr"]);
        assert_eq!(mail.subject, "Επιβεβαίωση");
        assert_eq!(mail.body, "Καλημέρα\n.τελεία στην αρχή\n");
        assert_eq!(mail.message_id, "<abc@portal.local>");
    }

    #[tokio::test]
    async fn down_answers_421_and_closes() {
        let sandbox = running().await;
        sandbox.sandbox().set_faults(MailFaults {
            down: true,
            ..MailFaults::default()
        });
        let (mut smtp, greeting) = Client::connect(&sandbox).await;
        assert!(greeting.starts_with("421 "), "{greeting}");
        assert_eq!(smtp.reply().await, "", "the connection is closed");
    }

    #[tokio::test]
    async fn faults_round_trip_over_http() {
        let sandbox = running().await;
        let client = reqwest::Client::new();
        let url = format!("{}/faults", sandbox.base_url());
        let faults = MailFaults {
            down: false,
            slow_ms: 20,
            fail_next: 2,
            reject_next: 1,
        };
        let put = client.put(&url).json(&faults).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        let got: MailFaults = client.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(got, faults);
        assert_eq!(sandbox.sandbox().faults(), faults);
    }

    #[tokio::test]
    async fn an_unknown_fault_is_refused() {
        let sandbox = running().await;
        let response = reqwest::Client::new()
            .put(format!("{}/faults", sandbox.base_url()))
            .json(&serde_json::json!({"down": true, "explode": true}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
        assert_eq!(sandbox.sandbox().faults(), MailFaults::default());
    }

    #[tokio::test]
    async fn delete_clears_the_messages() {
        let sandbox = running().await;
        let (mut smtp, _) = Client::connect(&sandbox).await;
        smtp.send("HELO client.test").await;
        smtp.send("MAIL FROM:<>").await;
        smtp.send("RCPT TO:<a@example.gr>").await;
        smtp.send("DATA").await;
        assert!(smtp
            .send("Subject: hi\r\n\r\nbody\r\n.")
            .await
            .starts_with("250"));
        let client = reqwest::Client::new();
        let url = format!("{}/messages", sandbox.base_url());
        let listed: Vec<ReceivedMail> =
            client.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].from, "");
        assert_eq!(listed[0].subject, "hi");
        let deleted = client.delete(&url).send().await.unwrap();
        assert!(deleted.status().is_success());
        let listed: Vec<ReceivedMail> =
            client.get(&url).send().await.unwrap().json().await.unwrap();
        assert!(listed.is_empty());
    }

    #[tokio::test]
    async fn data_end_faults_answer_451_then_554_and_store_nothing() {
        let sandbox = running().await;
        sandbox.sandbox().set_faults(MailFaults {
            fail_next: 1,
            reject_next: 1,
            ..MailFaults::default()
        });
        let (mut smtp, _) = Client::connect(&sandbox).await;
        smtp.send("EHLO client.test").await;
        for expected in ["451", "554", "250"] {
            smtp.send("MAIL FROM:<a@example.gr>").await;
            smtp.send("RCPT TO:<b@example.gr>").await;
            smtp.send("DATA").await;
            let reply = smtp.send("Subject: x\r\n\r\ny\r\n.").await;
            assert!(reply.starts_with(expected), "{reply}");
        }
        assert_eq!(sandbox.sandbox().messages().len(), 1);
        assert_eq!(sandbox.sandbox().faults(), MailFaults::default());
    }
}

//! The SMTP adapter behind the domain's `Mailer` port: sends the portal's notices as
//! UTF-8 plain-text e-mail through a submission server (the sink in the `sandboxes` crate
//! in tests and demos).
//!
//! The server is given as a URL, read by lettre: `smtp://host:port` (plain, no TLS, for
//! the local sink), `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465`
//! (implicit TLS); `user:password@` before the host adds authentication. A 5xx reply means
//! the server refused the message for good; a 4xx reply, no connection or a time-out
//! means "unavailable, try later".

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{MailError, MailMessage, Mailer};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where and as whom the portal sends mail.
#[derive(Clone)]
pub struct SmtpConfig {
    /// e.g. `smtp://127.0.0.1:2525`, `smtps://mail.example.gr`,
    /// `smtp://user:pass@mail.example.gr:587?tls=required`.
    pub url: String,
    /// The From header, e.g. `Δήμος <noreply@dimos.example.gr>`.
    pub from: String,
    /// The longest one message may take, from connecting to the server's last reply.
    pub timeout: Duration,
}

/// The URL may carry a password: it is never printed.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &"<redacted>")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmtpConfigError {
    #[error("the SMTP URL is not usable: {0}")]
    Url(String),
    #[error("the sender address {address:?} is not a valid mailbox: {reason}")]
    From { address: String, reason: String },
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpMailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpConfigError> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| SmtpConfigError::From {
                address: config.from.clone(),
                reason: e.to_string(),
            })?;
        // lettre's errors name the problem, not the URL, so no password leaks into them.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(config.timeout))
            .build();
        Ok(Self {
            transport,
            from,
            timeout: config.timeout,
        })
    }

    fn compose(&self, message: &MailMessage) -> Result<Message, MailError> {
        let to = message.to.parse::<Mailbox>().map_err(|e| {
            MailError::Rejected(format!("malformed recipient {:?}: {e}", message.to))
        })?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.as_str())
            .message_id(Some(message_id(&message.message_id)?))
            .header(ContentType::TEXT_PLAIN)
            .body(message.text_body.clone())
            .map_err(|e| MailError::Rejected(format!("the message cannot be built: {e}")))
    }
}

/// RFC 5322 wants `<left@right>`; a bare `left@right` gets its brackets. Whitespace or
/// control characters would break (or inject into) the header, so they are refused.
fn message_id(id: &str) -> Result<String, MailError> {
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(MailError::Rejected(format!("malformed Message-ID {id:?}")));
    }
    if id.starts_with('<') && id.ends_with('>') {
        Ok(id.to_string())
    } else {
        Ok(format!("<{id}>"))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let email = self.compose(message)?;
        // lettre writes CRLF "." CRLF after the data whatever its end, so a message that
        // already ends in CRLF would gain an empty last line (RFC 5321 §4.1.1.4 counts that
        // first CRLF as the end of the last line). Dropping ours keeps the body exact.
        let mut raw = email.formatted();
        if raw.ends_with(b"\r\n") {
            raw.truncate(raw.len() - 2);
        }
        let sending = self.transport.send_raw(email.envelope(), &raw);
        // lettre's own timeout covers connecting only; this one bounds the whole exchange.
        match tokio::time::timeout(self.timeout, sending).await {
            Err(_) => Err(MailError::Unavailable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(MailError::Rejected(e.to_string())),
            // 4xx replies, connection and TLS failures, garbled replies: all may pass.
            Ok(Err(e)) => Err(MailError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use sandboxes::mail::{MailFaults, ReceivedMail, RunningMailSandbox};

    use super::*;

    async fn sink() -> RunningMailSandbox {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        sandboxes::mail::start(local, local)
            .await
            .expect("mail sandbox starts")
    }

    fn mailer(sink: &RunningMailSandbox, timeout: Duration) -> SmtpMailer {
        SmtpMailer::new(&SmtpConfig {
            url: sink.smtp_url(),
            from: "Δήμος Δοκιμής <noreply@dimos.example.gr>".to_string(),
            timeout,
        })
        .expect("the sandbox URL is a valid SMTP URL")
    }

    fn notice(text_body: &str) -> MailMessage {
        MailMessage {
            to: "Μαρία Παπαδοπούλου <maria@example.gr>".to_string(),
            subject: "Η αίτησή σας ΑΙΤ-2025-000042 εγκρίθηκε".to_string(),
            text_body: text_body.to_string(),
            message_id: "<3f1c2a9e-7b1d-4c55-9e0a-2d6f8b1c0e11@portal.local>".to_string(),
        }
    }

    async fn put_faults(sink: &RunningMailSandbox, faults: MailFaults) {
        let response = reqwest::Client::new()
            .put(format!("{}/faults", sink.base_url()))
            .json(&faults)
            .send()
            .await
            .expect("the sandbox answers");
        assert!(response.status().is_success());
    }

    async fn received(sink: &RunningMailSandbox) -> Vec<ReceivedMail> {
        reqwest::get(format!("{}/messages", sink.base_url()))
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .expect("a list of messages")
    }

    #[tokio::test]
    async fn a_greek_notice_arrives_intact() {
        let sink = sink().await;
        let mailer = mailer(&sink, Duration::from_secs(5));
        let body = "Αγαπητή κυρία Παπαδοπούλου,\n\
                    .Αυτή η γραμμή αρχίζει με τελεία.\n\
                    .\n\
                    Η αίτησή σας για πιστοποιητικό οικογενειακής κατάστασης εγκρίθηκε και το \
                    έγγραφο είναι διαθέσιμο στη θυρίδα σας στην πύλη του Δήμου.\n\
                    Με εκτίμηση,\nΔήμος Δοκιμής\n";
        let message = notice(body);
        mailer.send(&message).await.expect("the sink accepts it");

        let arrived = received(&sink).await;
        assert_eq!(arrived.len(), 1);
        let mail = &arrived[0];
        assert_eq!(mail.to, ["maria@example.gr"]);
        assert_eq!(mail.from, "noreply@dimos.example.gr");
        assert_eq!(mail.subject, message.subject);
        assert_eq!(mail.body, message.text_body);
        assert_eq!(mail.message_id, message.message_id);
        assert!(mail.raw.is_ascii(), "Greek travels encoded, not as 8-bit");
        assert!(mail.raw.lines().all(|line| line.len() <= 998));
    }

    #[tokio::test]
    async fn a_line_break_in_the_subject_adds_no_header() {
        let sink = sink().await;
        let message = MailMessage {
            subject: "Θέμα\r\nBcc: intruder@example.gr".to_string(),
            ..notice("Καλημέρα")
        };
        mailer(&sink, Duration::from_secs(5))
            .send(&message)
            .await
            .expect("the sink accepts it");
        let arrived = received(&sink).await;
        assert!(!arrived[0].raw.to_ascii_lowercase().contains("\r\nbcc:"));
        assert_eq!(arrived[0].to, ["maria@example.gr"]);
    }

    #[tokio::test]
    async fn ascii_lines_with_leading_dots_survive_dot_stuffing() {
        let sink = sink().await;
        let mailer = mailer(&sink, Duration::from_secs(5));
        let dots = "first\n.\n..two dots\n.one dot\nlast\n";
        let long = format!("{dots}{}\n", "a long line, ".repeat(10));
        // Short ASCII lines go out as 7bit, a long line makes it quoted-printable: either
        // way the dots reach the wire and a lone "." must not end the message early.
        for (body, encoding) in [(dots, "7bit"), (long.as_str(), "quoted-printable")] {
            let message = MailMessage {
                subject: "Plain".to_string(),
                ..notice(body)
            };
            mailer.send(&message).await.expect("the sink accepts it");
            let mail = received(&sink).await.pop().expect("one more message");
            assert!(
                mail.raw
                    .contains(&format!("Content-Transfer-Encoding: {encoding}\r\n")),
                "{}",
                mail.raw
            );
            assert_eq!(mail.body, body);
        }
    }

    #[tokio::test]
    async fn a_server_that_is_down_is_unavailable() {
        let sink = sink().await;
        put_faults(
            &sink,
            MailFaults {
                down: true,
                ..MailFaults::default()
            },
        )
        .await;
        let result = mailer(&sink, Duration::from_secs(5))
            .send(&notice("Καλημέρα"))
            .await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn nobody_listening_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let mailer = SmtpMailer::new(&SmtpConfig {
            url: format!("smtp://{address}"),
            from: "noreply@dimos.example.gr".to_string(),
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let result = mailer.send(&notice("Καλημέρα")).await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_temporary_failure_is_unavailable_and_nothing_is_stored() {
        let sink = sink().await;
        put_faults(
            &sink,
            MailFaults {
                fail_next: 1,
                ..MailFaults::default()
            },
        )
        .await;
        let mailer = mailer(&sink, Duration::from_secs(5));
        let result = mailer.send(&notice("Καλημέρα")).await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "{result:?}"
        );
        assert!(received(&sink).await.is_empty());

        mailer
            .send(&notice("Καλημέρα"))
            .await
            .expect("the resend goes through");
        assert_eq!(received(&sink).await.len(), 1);
    }

    #[tokio::test]
    async fn a_permanent_refusal_is_rejected() {
        let sink = sink().await;
        put_faults(
            &sink,
            MailFaults {
                reject_next: 1,
                ..MailFaults::default()
            },
        )
        .await;
        let result = mailer(&sink, Duration::from_secs(5))
            .send(&notice("Καλημέρα"))
            .await;
        assert!(matches!(result, Err(MailError::Rejected(_))), "{result:?}");
        assert!(received(&sink).await.is_empty());
    }

    #[tokio::test]
    async fn a_server_slower_than_the_timeout_is_unavailable() {
        let sink = sink().await;
        put_faults(
            &sink,
            MailFaults {
                slow_ms: 2_000,
                ..MailFaults::default()
            },
        )
        .await;
        let started = std::time::Instant::now();
        let result = mailer(&sink, Duration::from_millis(300))
            .send(&notice("Καλημέρα"))
            .await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(1_500));
    }

    #[tokio::test]
    async fn a_malformed_recipient_is_rejected_before_connecting() {
        let sink = sink().await;
        let message = MailMessage {
            to: "not an address".to_string(),
            ..notice("Καλημέρα")
        };
        let result = mailer(&sink, Duration::from_secs(5)).send(&message).await;
        assert!(matches!(result, Err(MailError::Rejected(_))), "{result:?}");
    }

    #[test]
    fn message_ids_get_brackets_and_refuse_line_breaks() {
        assert_eq!(message_id("a@portal.local").unwrap(), "<a@portal.local>");
        assert_eq!(message_id("<a@portal.local>").unwrap(), "<a@portal.local>");
        assert!(message_id("<a@portal.local>\r\nBcc: x@y.gr").is_err());
        assert!(message_id("").is_err());
    }

    #[test]
    fn a_bad_url_or_sender_is_a_configuration_error() {
        let config = SmtpConfig {
            url: "smtp://127.0.0.1:2525".to_string(),
            from: "Δήμος <noreply@dimos.example.gr>".to_string(),
            timeout: Duration::from_secs(1),
        };
        assert!(SmtpMailer::new(&config).is_ok());
        for url in [
            "smtps://mail.example.gr",
            "smtp://user:secret@mail.example.gr:587?tls=required",
        ] {
            let tls = SmtpConfig {
                url: url.to_string(),
                ..config.clone()
            };
            assert!(SmtpMailer::new(&tls).is_ok(), "{url}");
        }
        let bad_url = SmtpConfig {
            url: "not a url".to_string(),
            ..config.clone()
        };
        assert!(matches!(
            SmtpMailer::new(&bad_url),
            Err(SmtpConfigError::Url(_))
        ));
        let bad_from = SmtpConfig {
            from: "nobody".to_string(),
            ..config.clone()
        };
        assert!(matches!(
            SmtpMailer::new(&bad_from),
            Err(SmtpConfigError::From { .. })
        ));
        assert!(!format!("{config:?}").contains("2525"));
    }
}

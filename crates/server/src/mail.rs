//! Outgoing mail: plain-text messages (password reset links) through the `[smtp]` relay, with
//! lettre over tokio. STARTTLS (RFC 3207) is required by default, or TLS from the first byte
//! (RFC 8314 §3.3); certificates are checked against the platform's trusted roots by rustls
//! (aws-lc-rs). Plain SMTP is accepted only to a relay on this machine (checked at start).

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use crate::config::{SmtpSettings, SmtpTls};

/// How long one delivery to the relay may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient's stored address is not one SMTP can take.
    #[error("the recipient's address is not a valid mail address")]
    Recipient,
    /// The sender configured is not a mailbox (checked at start, so not expected).
    #[error("smtp.from is not a mailbox")]
    Sender,
    /// The message could not be put together.
    #[error("the message could not be built: {0}")]
    Message(#[from] lettre::error::Error),
    /// No random Message-ID could be drawn.
    #[error("no random Message-ID could be drawn")]
    Random,
    /// The relay refused the message or could not be reached.
    #[error("the relay did not take the message: {0}")]
    Relay(#[from] lettre::transport::smtp::Error),
}

/// The mail relay of `[smtp]`.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of our Message-IDs (the issuer's host).
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the relay of `settings`, greeting it as `hello` (the issuer's host, for
    /// EHLO, RFC 5321 §4.1.1.1).
    pub fn new(settings: &SmtpSettings, hello: &str) -> Result<Mailer, MailError> {
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|_| MailError::Sender)?;
        let tls = match settings.tls {
            SmtpTls::StartTls => Tls::Required(TlsParameters::new(settings.host.clone())?),
            SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(settings.host.clone())?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(TIMEOUT))
            .hello_name(ClientId::Domain(hello.to_string()));
        if let Some((user, password)) = &settings.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            domain: hello.to_string(),
        })
    }

    /// Sends a plain-text mail to `to` and waits until the relay took it. The text goes as
    /// it is (7bit, lines up to 998 characters, RFC 5322 §2.1.1) when it can, so that a link
    /// stays whole on one line; otherwise quoted-printable.
    pub async fn send(&self, to: &str, subject: &str, text: String) -> Result<(), MailError> {
        let to = to.parse::<Address>().map_err(|_| MailError::Recipient)?;
        let random = tessera_core::crypto::random_handle().map_err(|_| MailError::Random)?;
        let body = plain_body(text);
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            // RFC 5322 §3.6.4: every message should have one.
            .message_id(Some(format!("<{random}@{}>", self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        let sent = self.transport.send(message).await;
        crate::metrics::outbound("mail", sent.is_ok());
        sent?;
        Ok(())
    }
}

/// RFC 5322 §2.1.1: lines of at most 998 characters (RFC 5321 §4.5.3.1.6: 1000 with CRLF).
const MAX_LINE: usize = 998;

/// `text` as a body: as it is (7bit: ASCII without NUL, CRLF line ends, lines within
/// [`MAX_LINE`]) when it can be, so that a link stays whole on its line, which lettre's own
/// choice keeps to 76 characters; otherwise lettre's encoding (quoted-printable or base64).
fn plain_body(text: String) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let seven_bit = crlf.is_ascii()
        && !crlf.contains('\0')
        && crlf
            .split("\r\n")
            .all(|line| line.len() <= MAX_LINE && !line.contains('\r'));
    if seven_bit {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_goes_as_it_is_and_anything_else_is_encoded() {
        let link = format!(
            "https://id.example.com/password/reset?token={}",
            "x".repeat(43)
        );
        let body = plain_body(format!("Hello,\n\n{link}\n"));
        assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
        let text = String::from_utf8(body.as_ref().to_vec()).unwrap();
        assert_eq!(text, format!("Hello,\r\n\r\n{link}\r\n"));
        for other in ["caf\u{e9}\n", &"x".repeat(MAX_LINE + 1)] {
            let body = plain_body(other.to_string());
            assert_ne!(
                body.encoding(),
                ContentTransferEncoding::SevenBit,
                "{other:?}"
            );
        }
        // What is not plain text is lettre's to encode.
        for other in ["a\0b\n", "a\rb\n"] {
            let ours = plain_body(other.to_string());
            assert_eq!(
                ours.as_ref(),
                Body::new(other.to_string()).as_ref(),
                "{other:?}"
            );
        }
    }
}

//! Sending a signed message to customs over HTTP(S), SOAP-wrapped or as plain XML.

use crate::config::{Customs, TransportKind};
use std::time::Duration;
use vasscm_core::soap;

/// What came back from customs.
#[derive(Debug)]
pub enum Outcome {
    /// An HTTP 2xx reply, its body as received (SOAP envelope or plain XML).
    Reply {
        /// HTTP status.
        status: u16,
        /// The body as received.
        body: String,
    },
    /// Anything else: retried later. `body` is what was received, if anything.
    Failure {
        /// Why.
        error: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// The (size-capped) body, when there was one.
        body: Option<String>,
    },
}

/// Why the HTTP client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The CA file is unreadable or not PEM.
    #[error("CA file {path}: {message}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The client cannot be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// An HTTP client configured for the customs endpoint.
pub struct Transport {
    client: reqwest::Client,
    cfg: Customs,
}

impl Transport {
    /// Builds the client (trust store, timeouts).
    pub fn new(cfg: &Customs) -> Result<Transport, TransportError> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .pool_max_idle_per_host(16);
        if let Some(ca) = &cfg.ca_file {
            let path = ca.display().to_string();
            let pem = std::fs::read(ca).map_err(|e| TransportError::Ca { path: path.clone(), message: e.to_string() })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| TransportError::Ca { path, message: e.to_string() })?;
            b = b.add_root_certificate(cert);
        }
        let client = b.build().map_err(|e| TransportError::Client(e.to_string()))?;
        Ok(Transport { client, cfg: cfg.clone() })
    }

    /// Sends one signed message and classifies what happened. A 2xx reply is returned as it
    /// came (SOAP or not): verifying it and taking the message out is [`crate::trust`]'s job.
    pub async fn send(&self, signed: &str) -> Outcome {
        let soap = self.cfg.transport == TransportKind::Soap;
        let mut req = self.client.post(&self.cfg.url);
        req = if soap {
            req.header("Content-Type", "text/xml; charset=utf-8")
                .header("SOAPAction", soap::SOAP_ACTION)
                .body(soap::wrap_request(signed))
        } else {
            req.header("Content-Type", "application/xml; charset=utf-8").body(signed.to_string())
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Failure { error: describe(&e), status: None, body: None },
        };
        let status = resp.status().as_u16();
        let body = match read_capped(resp, self.cfg.max_reply_bytes).await {
            Ok(b) => b,
            Err(error) => return Outcome::Failure { error, status: Some(status), body: None },
        };
        if !(200..300).contains(&status) {
            return Outcome::Failure { error: format!("customs answered HTTP {status}"), status: Some(status), body: Some(body) };
        }
        Outcome::Reply { status, body }
    }

    /// Fetches the next customs → port message from `url` (inbound polling) with the same trust
    /// store, timeouts and size cap as sending: `Some(body)` on 200, `None` on 204 (nothing
    /// waiting), an error otherwise.
    pub async fn fetch(&self, url: &str) -> Result<Option<String>, String> {
        let resp = self.client.get(url).send().await.map_err(|e| describe(&e))?;
        match resp.status().as_u16() {
            200 => read_capped(resp, self.cfg.max_reply_bytes).await.map(Some),
            204 => Ok(None),
            other => Err(format!("customs answered HTTP {other}")),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("timeout: {e}")
    } else if e.is_connect() {
        format!("cannot connect to customs: {e}")
    } else {
        format!("HTTP error: {e}")
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<String, String> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading the reply: {e}"))? {
        if buf.len() + chunk.len() > cap {
            return Err(format!("the reply is larger than {cap} bytes (customs.max_reply_bytes)"));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| "the reply is not UTF-8".to_string())
}

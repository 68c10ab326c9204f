//! What the worker believes from customs: a body (a reply to our message, or a message customs
//! sends) is trusted only once its signature verifies against customs' registered certificate,
//! and then only the verified document is passed on — never the raw body, which stays what is
//! logged as received.

use vasscm_dsig::Certificate;

/// A customs body whose signature verified.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// The signed content exactly as verified (canonical, without the signature): the only
    /// text that may be stored, parsed or applied.
    pub document: String,
}

/// Unwraps SOAP by parsing and verifies the enveloped signature against customs' certificate.
pub fn verify_customs(body: &str, cert: &Certificate) -> Result<Trusted, String> {
    vasscm_dsig::verify_body(body, &cert.x509)
        .map(|v| Trusted { document: v.into_document() })
        .map_err(|e| format!("customs signature refused: {e}"))
}

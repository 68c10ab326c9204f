//! The organisation key on an HSM or USB token, used only through PKCS#11 `C_Sign`.

use crate::config::Signing;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use vasscm_dsig::{Certificate, DsigError, RawSigner, SignatureAlgorithm};

/// Why the token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The PKCS#11 module cannot be loaded.
    #[error("cannot load the PKCS#11 module {module}: {message}")]
    Module {
        /// Path of the module.
        module: String,
        /// Why.
        message: String,
    },
    /// No token with the label.
    #[error("no token labelled {0:?} is present (is the HSM / USB token connected?)")]
    NoToken(String),
    /// The PIN is missing or wrong.
    #[error("login to token {token:?} failed: {message}")]
    Login {
        /// Token label.
        token: String,
        /// Why (wrong PIN, locked PIN…).
        message: String,
    },
    /// The PIN could not be read.
    #[error("cannot read the PIN: {0}")]
    Pin(String),
    /// The key or certificate is not on the token.
    #[error("{0}")]
    Object(String),
    /// A PKCS#11 call failed.
    #[error("PKCS#11 error: {0}")]
    Pkcs11(String),
}

/// An open, logged-in token with a pool of sessions.
pub struct Hsm {
    _pkcs11: Pkcs11,
    sessions: Vec<Mutex<(Session, ObjectHandle)>>,
    next: AtomicUsize,
    certificate: Certificate,
}

fn read_pin(cfg: &Signing) -> Result<AuthPin, HsmError> {
    let pin = if let Some(var) = &cfg.pin_env {
        std::env::var(var).map_err(|_| HsmError::Pin(format!("environment variable {var} is not set")))?
    } else if let Some(file) = &cfg.pin_file {
        let text = std::fs::read_to_string(file).map_err(|e| HsmError::Pin(format!("{}: {e}", file.display())))?;
        text.lines().next().unwrap_or_default().trim().to_string()
    } else {
        return Err(HsmError::Pin("no pin_env nor pin_file configured".into()));
    };
    Ok(AuthPin::from(pin))
}

fn hex(id: &str) -> Result<Vec<u8>, HsmError> {
    (0..id.len())
        .step_by(2)
        .map(|i| id.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| HsmError::Object(format!("key_id {id:?} is not hexadecimal")))
}

impl Hsm {
    /// Loads the module, finds the token, logs in and finds the key and its certificate.
    pub fn open(cfg: &Signing) -> Result<Hsm, HsmError> {
        let module = cfg.module.display().to_string();
        let pkcs11 = Pkcs11::new(&cfg.module).map_err(|e| HsmError::Module { module: module.clone(), message: e.to_string() })?;
        pkcs11
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| HsmError::Module { module, message: e.to_string() })?;
        let p = |e: cryptoki::error::Error| HsmError::Pkcs11(e.to_string());
        let slot = pkcs11
            .get_slots_with_token()
            .map_err(p)?
            .into_iter()
            .find(|s| pkcs11.get_token_info(*s).map(|t| t.label().trim() == cfg.token_label).unwrap_or(false))
            .ok_or_else(|| HsmError::NoToken(cfg.token_label.clone()))?;
        let pin = read_pin(cfg)?;
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(label) = &cfg.key_label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &cfg.key_id {
            template.push(Attribute::Id(hex(id)?));
        }
        let mut sessions = Vec::new();
        let mut key_id = Vec::new();
        for i in 0..cfg.sessions {
            let session = pkcs11.open_ro_session(slot).map_err(p)?;
            if i == 0 {
                session
                    .login(UserType::User, Some(&pin))
                    .map_err(|e| HsmError::Login { token: cfg.token_label.clone(), message: e.to_string() })?;
            }
            let key = *session
                .find_objects(&template)
                .map_err(p)?
                .first()
                .ok_or_else(|| HsmError::Object(format!("no private key {:?} / id {:?} on token {:?}", cfg.key_label, cfg.key_id, cfg.token_label)))?;
            if i == 0 {
                if let Some(Attribute::Id(id)) = session.get_attributes(key, &[AttributeType::Id]).map_err(p)?.into_iter().next() {
                    key_id = id;
                }
            }
            sessions.push(Mutex::new((session, key)));
        }
        let certificate = match &cfg.certificate_file {
            Some(file) => {
                let bytes = std::fs::read(file).map_err(|e| HsmError::Object(format!("certificate {}: {e}", file.display())))?;
                Certificate::from_bytes(&bytes).map_err(|e| HsmError::Object(format!("certificate {}: {e}", file.display())))?
            }
            None => {
                let guard = sessions[0].lock().map_err(|_| HsmError::Pkcs11("session lock poisoned".into()))?;
                let found = guard
                    .0
                    .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE), Attribute::Id(key_id.clone())])
                    .map_err(p)?;
                let handle = *found.first().ok_or_else(|| {
                    HsmError::Object("no certificate with the key's id on the token: set [signing] certificate_file".into())
                })?;
                let value = guard.0.get_attributes(handle, &[AttributeType::Value]).map_err(p)?;
                let Some(Attribute::Value(der)) = value.into_iter().next() else {
                    return Err(HsmError::Object("the certificate object has no value".into()));
                };
                Certificate::from_bytes(&der).map_err(|e| HsmError::Object(format!("certificate on the token: {e}")))?
            }
        };
        Ok(Hsm { _pkcs11: pkcs11, sessions, next: AtomicUsize::new(0), certificate })
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Number of sessions in the pool.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Bare `C_Sign` (RSA-SHA256) on session `i`: the token's ceiling, for the benchmark.
    pub fn sign_on(&self, i: usize, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        let guard = self.sessions[i % self.sessions.len()].lock().map_err(|_| HsmError::Pkcs11("session lock poisoned".into()))?;
        guard.0.sign(&Mechanism::Sha256RsaPkcs, guard.1, data).map_err(|e| HsmError::Pkcs11(e.to_string()))
    }
}

impl RawSigner for Hsm {
    fn sign(&self, algorithm: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, DsigError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        let guard = self.sessions[i].lock().map_err(|_| DsigError::Signer("session lock poisoned".into()))?;
        let mechanism = match algorithm {
            SignatureAlgorithm::RsaSha256 => Mechanism::Sha256RsaPkcs,
            SignatureAlgorithm::RsaSha1 => Mechanism::Sha1RsaPkcs,
        };
        guard.0.sign(&mechanism, guard.1, data).map_err(|e| DsigError::Signer(format!("C_Sign on the token failed: {e}")))
    }
}

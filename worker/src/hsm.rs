//! The organisation key on an HSM or USB token, used only through PKCS#11 `C_Sign`.
//!
//! Any conforming token works: the token is found by its label (read raw when the PKCS#11
//! library's description of it is not strictly conforming), and the signing mechanism is chosen
//! from what the token offers (see [`crate::mechanism`]).

use crate::config::Signing;
use crate::mechanism::SignMechanism;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::Rv;
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tracing::debug;
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
    /// No token with the label, and every token present could be read.
    #[error("no token labelled {label:?} is present (is the HSM / USB token connected?); tokens present: {present}")]
    NoToken {
        /// The configured label.
        label: String,
        /// The labels found, or "none".
        present: String,
    },
    /// A token's description could not be read: it may be the configured one.
    #[error("no token labelled {label:?} found, and PKCS#11 could not describe some tokens: {errors}")]
    TokenInfo {
        /// The configured label.
        label: String,
        /// Each slot whose `C_GetTokenInfo` failed, with the error.
        errors: String,
    },
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
    /// The token offers no mechanism for the configured signature algorithm.
    #[error("token {token:?} cannot make {algorithm} signatures: it offers none of {needed} for signing (its RSA mechanisms: {offered})")]
    Mechanism {
        /// Token label.
        token: String,
        /// The configured algorithm (`rsa-sha256`, `rsa-sha1`).
        algorithm: &'static str,
        /// The mechanisms that would do.
        needed: String,
        /// The RSA mechanisms the token has.
        offered: String,
    },
    /// The token's signature does not verify against the certificate.
    #[error("test signature refused: {0}")]
    SelfTest(String),
    /// A PKCS#11 call failed.
    #[error("PKCS#11 error: {0}")]
    Pkcs11(String),
}

/// What was found on the token, for `check` and the start-up log line.
#[derive(Debug, Clone)]
pub struct TokenDescription {
    /// PKCS#11 slot id.
    pub slot: u64,
    /// Token label.
    pub label: String,
    /// Manufacturer and model from `C_GetTokenInfo`.
    pub model: String,
}

/// An open, logged-in token with a pool of sessions.
pub struct Hsm {
    _pkcs11: Pkcs11,
    sessions: Vec<Mutex<(Session, ObjectHandle)>>,
    next: AtomicUsize,
    certificate: Certificate,
    sha256: Option<SignMechanism>,
    sha1: Option<SignMechanism>,
    token: TokenDescription,
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

fn blank_padded(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end_matches([' ', '\0']).to_string()
}

/// Label, manufacturer and model of the token in `slot` straight from `C_GetTokenInfo`,
/// without interpreting the other fields. cryptoki refuses a token info whose `utcTime` is not
/// 16 ASCII digits, as openCryptoki's soft token gives it; the label is all that is needed
/// to find the token.
fn raw_token_info(module: &Path, slot: Slot) -> Result<(String, String), String> {
    // SAFETY: the module is already loaded and initialised by `Pkcs11`; loading it again only
    // takes another reference to the same library. `C_GetFunctionList` and `C_GetTokenInfo`
    // are called as PKCS#11 specifies, with a zeroed CK_TOKEN_INFO the library fills.
    unsafe {
        let lib = cryptoki_sys::Pkcs11::new(module).map_err(|e| e.to_string())?;
        let get_list = lib.C_GetFunctionList.as_ref().map_err(|e| format!("C_GetFunctionList: {e}"))?;
        let mut list: *mut cryptoki_sys::CK_FUNCTION_LIST = std::ptr::null_mut();
        Rv::from(get_list(&mut list)).into_result(Function::GetFunctionList).map_err(|e| e.to_string())?;
        let get_info = list.as_ref().and_then(|l| l.C_GetTokenInfo).ok_or("the module has no C_GetTokenInfo")?;
        let mut info = cryptoki_sys::CK_TOKEN_INFO::default();
        Rv::from(get_info(slot.id(), &mut info)).into_result(Function::GetTokenInfo).map_err(|e| e.to_string())?;
        Ok((blank_padded(&info.label), format!("{} {}", blank_padded(&info.manufacturerID), blank_padded(&info.model))))
    }
}

/// Finds the slot holding the token labelled `label`. A token whose description cannot be
/// read is reported, never taken for an absent token.
fn find_token(pkcs11: &Pkcs11, module: &Path, label: &str) -> Result<(Slot, TokenDescription), HsmError> {
    let slots = pkcs11.get_slots_with_token().map_err(|e| HsmError::Pkcs11(format!("C_GetSlotList: {e}")))?;
    let mut present = Vec::new();
    let mut errors = Vec::new();
    for slot in slots {
        let described = match pkcs11.get_token_info(slot) {
            Ok(t) => Ok((t.label().trim().to_string(), format!("{} {}", t.manufacturer_id().trim(), t.model().trim()))),
            Err(e) => {
                debug!(slot = slot.id(), "cryptoki cannot describe the token ({e}); reading its label raw");
                raw_token_info(module, slot).map_err(|raw| format!("slot {}: {e}; raw C_GetTokenInfo: {raw}", slot.id()))
            }
        };
        match described {
            Ok((found, model)) if found == label => {
                return Ok((slot, TokenDescription { slot: slot.id(), label: found, model: model.trim().to_string() }))
            }
            Ok((found, _)) => present.push(format!("{found:?}")),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(HsmError::TokenInfo { label: label.to_string(), errors: errors.join("; ") });
    }
    Err(HsmError::NoToken {
        label: label.to_string(),
        present: if present.is_empty() { "none".into() } else { present.join(", ") },
    })
}

/// The mechanisms of `slot` that can sign, among those the worker may use.
fn signing_mechanisms(pkcs11: &Pkcs11, slot: Slot) -> Result<(Vec<MechanismType>, Vec<String>), HsmError> {
    let listed = pkcs11.get_mechanism_list(slot).map_err(|e| HsmError::Pkcs11(format!("C_GetMechanismList: {e}")))?;
    let wanted = [MechanismType::RSA_PKCS, MechanismType::SHA256_RSA_PKCS, MechanismType::SHA1_RSA_PKCS];
    let mut can_sign = Vec::new();
    let mut offered = Vec::new();
    for m in listed.into_iter().filter(|m| wanted.contains(m)) {
        let info = pkcs11.get_mechanism_info(slot, m).map_err(|e| HsmError::Pkcs11(format!("C_GetMechanismInfo({m}): {e}")))?;
        if info.sign() {
            can_sign.push(m);
            offered.push(m.to_string());
        } else {
            offered.push(format!("{m} (not for signing)"));
        }
    }
    Ok((can_sign, offered))
}

impl Hsm {
    /// Loads the module, finds the token, chooses the signing mechanism, logs in and finds the
    /// key and its certificate.
    pub fn open(cfg: &Signing) -> Result<Hsm, HsmError> {
        let module = cfg.module.display().to_string();
        let pkcs11 = Pkcs11::new(&cfg.module).map_err(|e| HsmError::Module { module: module.clone(), message: e.to_string() })?;
        pkcs11
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| HsmError::Module { module, message: e.to_string() })?;
        let p = |e: cryptoki::error::Error| HsmError::Pkcs11(e.to_string());
        let (slot, token) = find_token(&pkcs11, &cfg.module, &cfg.token_label)?;
        let (can_sign, offered) = signing_mechanisms(&pkcs11, slot)?;
        let sha256 = SignMechanism::choose(SignatureAlgorithm::RsaSha256, &can_sign, cfg.mechanism);
        let sha1 = SignMechanism::choose(SignatureAlgorithm::RsaSha1, &can_sign, cfg.mechanism);
        let configured = cfg.signature_algorithm;
        let chosen = match configured {
            SignatureAlgorithm::RsaSha256 => sha256,
            SignatureAlgorithm::RsaSha1 => sha1,
        };
        if chosen.is_none() {
            return Err(HsmError::Mechanism {
                token: cfg.token_label.clone(),
                algorithm: crate::config::algorithm_name(configured),
                needed: SignMechanism::needed(configured).iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" or "),
                offered: if offered.is_empty() { "none".into() } else { offered.join(", ") },
            });
        }
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
        Ok(Hsm { _pkcs11: pkcs11, sessions, next: AtomicUsize::new(0), certificate, sha256, sha1, token })
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The token found.
    pub fn token(&self) -> &TokenDescription {
        &self.token
    }

    /// How `algorithm` signatures are made on this token, if they can be.
    pub fn mechanism(&self, algorithm: SignatureAlgorithm) -> Option<SignMechanism> {
        match algorithm {
            SignatureAlgorithm::RsaSha256 => self.sha256,
            SignatureAlgorithm::RsaSha1 => self.sha1,
        }
    }

    /// Number of sessions in the pool.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// One `algorithm` signature of `data` on session `i` (the benchmark's unit of work).
    pub fn sign_on(&self, i: usize, algorithm: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        let mechanism = self.mechanism(algorithm).ok_or_else(|| HsmError::Pkcs11(format!("the token cannot sign {algorithm:?}")))?;
        let (mechanism, input) = mechanism.prepare(data).map_err(|e| HsmError::Pkcs11(format!("digest on the host: {e}")))?;
        // a free session if there is one (no thread waits while another session idles), else
        // session i's turn
        let n = self.sessions.len();
        let guard = match (0..n).find_map(|k| self.sessions[(i + k) % n].try_lock().ok()) {
            Some(g) => g,
            None => self.sessions[i % n].lock().map_err(|_| HsmError::Pkcs11("session lock poisoned".into()))?,
        };
        guard.0.sign(&mechanism, guard.1, &input).map_err(|e| HsmError::Pkcs11(format!("C_Sign on the token failed: {e}")))
    }

    /// Makes one real `algorithm` signature on the token and verifies it against the
    /// certificate's public key: the key, the certificate and the mechanism belong together.
    pub fn self_test(&self, algorithm: SignatureAlgorithm) -> Result<(), HsmError> {
        let data = b"vasscm-worker check: a test signature";
        let signature = self.sign_on(0, algorithm, data)?;
        let key = self.certificate.x509.public_key().map_err(|e| HsmError::SelfTest(format!("certificate public key: {e}")))?;
        let md = match algorithm {
            SignatureAlgorithm::RsaSha256 => openssl::hash::MessageDigest::sha256(),
            SignatureAlgorithm::RsaSha1 => openssl::hash::MessageDigest::sha1(),
        };
        let verified = openssl::sign::Verifier::new(md, &key)
            .and_then(|mut v| {
                v.update(data)?;
                v.verify(&signature)
            })
            .map_err(|e| HsmError::SelfTest(e.to_string()))?;
        if verified {
            Ok(())
        } else {
            Err(HsmError::SelfTest(format!(
                "the token's signature does not verify with the certificate {} (is it the key's certificate?)",
                self.certificate.subject()
            )))
        }
    }
}

impl RawSigner for Hsm {
    fn sign(&self, algorithm: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, DsigError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.sign_on(i, algorithm, data).map_err(|e| DsigError::Signer(e.to_string()))
    }
}

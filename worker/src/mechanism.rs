//! How the token makes an RSA PKCS#1 v1.5 signature: with the token's own hash-and-sign
//! mechanism (`CKM_SHA256_RSA_PKCS`, `CKM_SHA1_RSA_PKCS`) when it offers one, otherwise the
//! standard fallback many USB tokens need — the digest computed on the host, wrapped in its DER
//! `DigestInfo`, and signed with `CKM_RSA_PKCS` on the token. The key never leaves the token
//! either way, and both give the same signature bytes.

use cryptoki::mechanism::{Mechanism, MechanismType};
use openssl::hash::MessageDigest;
use vasscm_dsig::SignatureAlgorithm;

/// DER prefix of a SHA-256 `DigestInfo` (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
/// DER prefix of a SHA-1 `DigestInfo`.
const SHA1_DIGEST_INFO: [u8; 15] = [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];

/// What `[signing] mechanism` asks for: `auto` (default), `CKM_SHA256_RSA_PKCS` (the token
/// hashes; `CKM_SHA1_RSA_PKCS` for RSA-SHA1 is implied, and accepted as a synonym) or
/// `CKM_RSA_PKCS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Preference {
    /// The token's hash-and-sign mechanism when it has it, else `CKM_RSA_PKCS` with the digest
    /// computed on the host.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// Always the token's hash-and-sign mechanism.
    #[serde(rename = "CKM_SHA256_RSA_PKCS", alias = "CKM_SHA1_RSA_PKCS")]
    Native,
    /// Always `CKM_RSA_PKCS` with the digest computed on the host.
    #[serde(rename = "CKM_RSA_PKCS")]
    HostDigest,
}

/// The way one signature algorithm is made on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMechanism {
    /// The token hashes and signs.
    Native(SignatureAlgorithm),
    /// The host hashes; the token signs the `DigestInfo` with `CKM_RSA_PKCS`.
    HostDigest(SignatureAlgorithm),
}

fn native_type(algorithm: SignatureAlgorithm) -> MechanismType {
    match algorithm {
        SignatureAlgorithm::RsaSha256 => MechanismType::SHA256_RSA_PKCS,
        SignatureAlgorithm::RsaSha1 => MechanismType::SHA1_RSA_PKCS,
    }
}

impl SignMechanism {
    /// Chooses how to make `algorithm` signatures from the mechanisms the token can sign with
    /// (`C_GetMechanismList`, keeping those whose `C_GetMechanismInfo` has `CKF_SIGN`).
    pub fn choose(algorithm: SignatureAlgorithm, can_sign: &[MechanismType], preference: Preference) -> Option<SignMechanism> {
        let native = can_sign.contains(&native_type(algorithm));
        let raw = can_sign.contains(&MechanismType::RSA_PKCS);
        match preference {
            Preference::Auto if native => Some(SignMechanism::Native(algorithm)),
            Preference::Auto | Preference::HostDigest if raw => Some(SignMechanism::HostDigest(algorithm)),
            Preference::Native if native => Some(SignMechanism::Native(algorithm)),
            _ => None,
        }
    }

    /// The PKCS#11 mechanisms one of which [`SignMechanism::choose`] needs for `algorithm`.
    pub fn needed(algorithm: SignatureAlgorithm) -> [MechanismType; 2] {
        [native_type(algorithm), MechanismType::RSA_PKCS]
    }

    /// A readable name, as printed by `check`.
    pub fn describe(&self) -> String {
        match self {
            SignMechanism::Native(a) => format!("{} (the token hashes and signs)", native_type(*a)),
            SignMechanism::HostDigest(a) => {
                format!("{} ({} DigestInfo computed on the host, signed on the token)", MechanismType::RSA_PKCS, digest_name(*a))
            }
        }
    }

    /// The mechanism to pass to `C_Sign` and the bytes to sign for `data`.
    pub fn prepare(&self, data: &[u8]) -> Result<(Mechanism<'static>, Vec<u8>), openssl::error::ErrorStack> {
        match self {
            SignMechanism::Native(SignatureAlgorithm::RsaSha256) => Ok((Mechanism::Sha256RsaPkcs, data.to_vec())),
            SignMechanism::Native(SignatureAlgorithm::RsaSha1) => Ok((Mechanism::Sha1RsaPkcs, data.to_vec())),
            SignMechanism::HostDigest(a) => Ok((Mechanism::RsaPkcs, digest_info(*a, data)?)),
        }
    }
}

fn digest_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::RsaSha256 => "SHA-256",
        SignatureAlgorithm::RsaSha1 => "SHA-1",
    }
}

/// The DER `DigestInfo` of `data` for `algorithm`: what `CKM_RSA_PKCS` pads and signs to give
/// the same signature as the hash-and-sign mechanism.
pub fn digest_info(algorithm: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let (prefix, md): (&[u8], MessageDigest) = match algorithm {
        SignatureAlgorithm::RsaSha256 => (&SHA256_DIGEST_INFO, MessageDigest::sha256()),
        SignatureAlgorithm::RsaSha1 => (&SHA1_DIGEST_INFO, MessageDigest::sha1()),
    };
    let digest = openssl::hash::hash(md, data)?;
    let mut out = Vec::with_capacity(prefix.len() + digest.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&digest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::PKey;
    use openssl::rsa::{Padding, Rsa};
    use openssl::sign::Signer;

    /// PKCS#1 v1.5 padding of our DigestInfo (what `CKM_RSA_PKCS` does) must give exactly the
    /// signature of the hash-and-sign algorithm: a wrong prefix byte fails here.
    #[test]
    fn digest_info_signature_equals_hash_and_sign() {
        let rsa = Rsa::generate(2048).expect("key");
        let key = PKey::from_rsa(rsa.clone()).expect("pkey");
        let data = b"<SignedInfo>vasscm</SignedInfo>";
        for (algorithm, md) in [(SignatureAlgorithm::RsaSha256, MessageDigest::sha256()), (SignatureAlgorithm::RsaSha1, MessageDigest::sha1())] {
            let mut s = Signer::new(md, &key).expect("signer");
            s.update(data).expect("update");
            let expected = s.sign_to_vec().expect("sign");
            let info = digest_info(algorithm, data).expect("digest info");
            let mut raw = vec![0u8; rsa.size() as usize];
            let n = rsa.private_encrypt(&info, &mut raw, Padding::PKCS1).expect("raw sign");
            raw.truncate(n);
            assert_eq!(raw, expected, "{algorithm:?}");
        }
    }

    #[test]
    fn choice_follows_the_token_and_the_setting() {
        use MechanismType as T;
        let sha256 = SignatureAlgorithm::RsaSha256;
        let both = [T::RSA_PKCS, T::SHA256_RSA_PKCS];
        let raw_only = [T::RSA_PKCS, T::SHA1_RSA_PKCS];
        assert_eq!(SignMechanism::choose(sha256, &both, Preference::Auto), Some(SignMechanism::Native(sha256)));
        assert_eq!(SignMechanism::choose(sha256, &raw_only, Preference::Auto), Some(SignMechanism::HostDigest(sha256)));
        assert_eq!(SignMechanism::choose(sha256, &both, Preference::HostDigest), Some(SignMechanism::HostDigest(sha256)));
        assert_eq!(SignMechanism::choose(sha256, &raw_only, Preference::Native), None);
        assert_eq!(SignMechanism::choose(sha256, &[T::SHA1_RSA_PKCS], Preference::Auto), None);
        assert_eq!(
            SignMechanism::choose(SignatureAlgorithm::RsaSha1, &raw_only, Preference::Auto),
            Some(SignMechanism::Native(SignatureAlgorithm::RsaSha1))
        );
    }
}

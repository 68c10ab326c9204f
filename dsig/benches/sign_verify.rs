//! `cargo bench -p vasscm-dsig`: signing and verifying a form-14 message with an in-memory
//! RSA-2048 key, to separate XML-DSig work (canonicalisation, digests) from the token.

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use std::time::Instant;
use vasscm_dsig::{sign, verify, Certificate, KeySigner, Profile};

fn main() {
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "Bench").expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t")).expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(1).expect("t")).expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = Certificate::from_x509(b.build()).expect("cert");
    let signer = KeySigner(key);
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Customs><Header><Application_Name>VASSCM</Application_Name><Application_Version>0.1.0</Application_Version><Sender_Code>CANG</Sender_Code><Sender_Name>Cảng</Sender_Name><Receiver_Code>03CC</Receiver_Code><Message_Version>1</Message_Version><Message_Type>14</Message_Type><Message_Name>Thông tin container hạ bãi, vào cảng</Message_Name><Transaction_Date>2026-11-26T02:32:34+07:00</Transaction_Date><Transaction_ID>4332d574-7dc5-49b4-940d-d3015c7a6be0</Transaction_ID></Header><Data><MA_HQ>03CC</MA_HQ><MA_DIA_DIEM>03CCC01</MA_DIA_DIEM><LOAI_HANG>NHAP</LOAI_HANG><SO_CONTAINER>MSKU1234565</SO_CONTAINER><TRANG_THAI>F</TRANG_THAI><SO_NIEM_PHONG>ML123456</SO_NIEM_PHONG><SO_VAN_DON>MAEU245001</SO_VAN_DON><HINH_THUC>TAU</HINH_THUC><THOI_GIAN>2026-11-26T07:15:00+07:00</THOI_GIAN></Data></Customs>";
    let n = 2000;
    let t = Instant::now();
    let mut signed = String::new();
    for _ in 0..n {
        signed = sign(xml, &signer, &cert, Profile::default()).expect("signs");
    }
    let s = t.elapsed().as_secs_f64();
    println!("sign (in-memory key)  {:>8.0} per second ({:.3} ms each)", f64::from(n) / s, s * 1e3 / f64::from(n));
    let t = Instant::now();
    for _ in 0..n {
        verify(&signed, &cert.x509).expect("verifies");
    }
    let s = t.elapsed().as_secs_f64();
    println!("verify                {:>8.0} per second ({:.3} ms each)", f64::from(n) / s, s * 1e3 / f64::from(n));
    let t = Instant::now();
    for _ in 0..n {
        bergshamra::c14n::canonicalize::<&str>(xml, bergshamra::c14n::C14nMode::Inclusive, None, &[]).expect("c14n");
    }
    let s = t.elapsed().as_secs_f64();
    println!("c14n of the message   {:>8.0} per second ({:.3} ms each)", f64::from(n) / s, s * 1e3 / f64::from(n));
}

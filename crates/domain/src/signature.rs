//! `X-Twilio-Signature`: how Twilio signs every request it sends, and how a receiver checks it.
//!
//! 1. Take the full URL requested, with its query string.
//! 2. For a form-encoded POST, sort the parameter names; for each name sort its values; append
//!    name and value for each, without separators.
//! 3. HMAC-SHA1 the UTF-8 string with the signer's auth token as key; base64 the digest.
//! 4. For any other body (JSON, audio, multipart) add `bodySHA256=<hex SHA-256 of the body>` to
//!    the URL's query string, and sign the URL alone.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

/// The query parameter that carries the SHA-256 of a non-form body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// An auth token prepared for signing: the HMAC key schedule is computed once and cloned for
/// each signature.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha1,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// Prepares a signer for an auth token.
    pub fn new(auth_token: &str) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = match HmacSha1::new_from_slice(auth_token.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA1 takes keys of any length"),
        };
        Signer { mac }
    }

    /// The signature of a URL and its form parameters (none for a non-form body).
    pub fn sign<'a, I>(&self, url: &str, form_params: I) -> String
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut params: Vec<(&str, &str)> = form_params.into_iter().collect();
        params.sort_unstable();
        let mut mac = self.mac.clone();
        mac.update(url.as_bytes());
        for (name, value) in params {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Checks a signature the way Twilio's official validators do: the URL is accepted with or
    /// without its default port, and a `bodySHA256` in the URL must match the body.
    pub fn validate<'a, I>(&self, url: &str, form_params: I, body: &[u8], signature: &str) -> bool
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        let Ok(parsed) = url::Url::parse(url) else {
            return false;
        };
        if let Some((_, expected)) = parsed.query_pairs().find(|(name, _)| name == BODY_SHA256_PARAM)
            && !constant_time_eq(expected.as_bytes(), body_sha256_hex(body).as_bytes())
        {
            return false;
        }
        url_variants(url, &parsed).iter().any(|candidate| {
            constant_time_eq(
                self.sign(candidate, form_params.clone()).as_bytes(),
                signature.as_bytes(),
            )
        })
    }
}

/// The URL as given, and with its port made explicit or removed, as Twilio's validators try.
/// Done on the text: URL libraries normalise a default port away.
fn url_variants(url: &str, parsed: &url::Url) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some(scheme_end) = url.find("://") else {
        return variants;
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':') {
        Some(colon) => {
            let colon = authority_start + host_end + colon;
            variants.push(format!("{}{}", &url[..colon], &url[authority_end..]));
        }
        None => {
            if let Some(port) = parsed.port_or_known_default() {
                variants.push(format!(
                    "{}:{port}{}",
                    &url[..authority_end],
                    &url[authority_end..]
                ));
            }
        }
    }
    variants
}

/// Lower-case hex SHA-256 of a body, as `bodySHA256` carries it.
pub fn body_sha256_hex(body: &[u8]) -> String {
    sha256_hex(body)
}

/// Lower-case hex SHA-256 of `data`, written into one buffer (`hex::encode` builds its string
/// a `char` at a time, which costs more than hashing a short body).
pub fn sha256_hex(data: &[u8]) -> String {
    let mut digits = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(data), &mut digits)
        .unwrap_or_else(|error| unreachable!("32 bytes fill 64 hex digits: {error}"));
    String::from_utf8(digits.to_vec()).unwrap_or_else(|error| unreachable!("hex digits are ASCII: {error}"))
}

/// Appends `bodySHA256=<hex>` to a URL's query string.
pub fn url_with_body_sha256(url: &str, body: &[u8]) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{BODY_SHA256_PARAM}={}", body_sha256_hex(body))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_the_lower_case_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"{\"a\":1}"),
            hex::encode(Sha256::digest(b"{\"a\":1}"))
        );
    }

    // Vectors from twilio-python's own request validator tests (token "12345").
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const PARAMS: [(&str, &str); 5] = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];
    const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;

    #[test]
    fn form_signature_matches_twilio_vector() {
        let signer = Signer::new(TOKEN);
        assert_eq!(signer.sign(URL, PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn form_signature_with_port_matches_twilio_vector() {
        let signer = Signer::new(TOKEN);
        let url = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(signer.sign(url, PARAMS), "kvajT1Ptam85bY51eRf/AJRuM3w=");
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let signer = Signer::new(TOKEN);
        let mut reversed = PARAMS;
        reversed.reverse();
        assert_eq!(signer.sign(URL, reversed), signer.sign(URL, PARAMS));
    }

    #[test]
    fn json_body_hash_and_signature_match_twilio_vectors() {
        assert_eq!(
            body_sha256_hex(JSON_BODY.as_bytes()),
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url = url_with_body_sha256(URL, JSON_BODY.as_bytes());
        let signer = Signer::new(TOKEN);
        assert_eq!(signer.sign(&url, []), "a9nBmqA0ju/hNViExpshrM61xv4=");
    }

    #[test]
    fn validate_accepts_the_url_with_or_without_port() {
        let signer = Signer::new(TOKEN);
        assert!(signer.validate(URL, PARAMS, b"", "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(signer.validate(URL, PARAMS, b"", "kvajT1Ptam85bY51eRf/AJRuM3w="));
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(signer.validate(with_port, PARAMS, b"", "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn validate_rejects_tampering() {
        let signer = Signer::new(TOKEN);
        let mut tampered = PARAMS;
        tampered[2] = ("Digits", "9999");
        assert!(!signer.validate(URL, tampered, b"", "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!Signer::new("54321").validate(URL, PARAMS, b"", "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn validate_checks_the_body_hash() {
        let url = url_with_body_sha256(URL, JSON_BODY.as_bytes());
        let signer = Signer::new(TOKEN);
        let signature = signer.sign(&url, []);
        assert!(signer.validate(&url, [], JSON_BODY.as_bytes(), &signature));
        assert!(!signer.validate(&url, [], b"{\"property\": \"other\"}", &signature));
    }
}

//! The outbound HTTP client for publisher requests, kept apart from delivery policy: it owns
//! the connection pool, TLS (1.2 at least), the redirect limit, the guard against private
//! addresses, the attempt's timeout and the size cap, and reports each failure as its own kind.
//! Whether to retry is the caller's decision, made on the typed error.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use addons_domain::error_code::AddOnErrorCode;
use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use url::Url;

/// At most this many redirects are followed (Twilio's limit; more is error 61008).
pub const MAX_REDIRECTS: usize = 5;

/// How the client is built.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Connecting may take at most this long.
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this long.
    pub pool_idle_timeout: Duration,
    /// Refuse addresses that are loopback, private, link-local, or otherwise not public.
    pub block_private_networks: bool,
    /// Extra trusted roots (PEM), for publishers with private certificate authorities.
    pub extra_root_certificates: Vec<Vec<u8>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            pool_idle_timeout: Duration::from_secs(90),
            block_private_networks: false,
            extra_root_certificates: Vec::new(),
        }
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Method.
    pub method: reqwest::Method,
    /// The URL exactly as signed.
    pub url: Url,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (empty for none).
    pub body: Bytes,
}

/// A publisher's answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body (never more than the cap).
    pub body: Bytes,
}

/// Why no answer was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The attempt ran out of time (connecting, waiting, or reading the body).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The body is larger than the limit (checked while streaming).
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    /// More than five redirects.
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    /// The connection could not be made.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The address is not one the gateway may call.
    #[error("refused to call {0}: not a public address")]
    Blocked(String),
    /// The exchange broke after connecting.
    #[error("the exchange failed: {0}")]
    Transport(String),
}

impl SendError {
    /// Whether another attempt may help (the request may not have reached the publisher, or
    /// the publisher can absorb a repeat of it thanks to the request SID).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Connect(_) | SendError::Transport(_))
    }

    /// The Twilio code a final failure of this kind is reported with.
    pub fn code(&self) -> AddOnErrorCode {
        match self {
            SendError::Timeout(_) => AddOnErrorCode::Timeout,
            SendError::TooLarge(_) => AddOnErrorCode::ResponseTooLarge,
            SendError::TooManyRedirects => AddOnErrorCode::TooManyRedirects,
            SendError::Connect(_) | SendError::Transport(_) | SendError::Blocked(_) => {
                AddOnErrorCode::ProviderUnavailable
            }
        }
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct PublisherClient {
    client: reqwest::Client,
    block_private_networks: bool,
}

/// Whether an address is one the public internet can route to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// A resolver that drops non-public addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

fn host_is_blocked(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => true,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("redirected to a non-public address")]
struct BlockedRedirect;

impl PublisherClient {
    /// Builds the client. Requires a rustls crypto provider to be installed (see
    /// [`install_crypto_provider`]).
    pub fn new(options: &ClientOptions) -> Result<PublisherClient, String> {
        install_crypto_provider();
        let block = options.block_private_networks;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(TooManyRedirectsMarker)
            } else if block && host_is_blocked(attempt.url()) {
                attempt.error(BlockedRedirect)
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .tcp_nodelay(true)
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .redirect(policy)
            // The engine retries (with the same request SID, within the Add-on's count and
            // TTL); reqwest's own retry layer would only clone every request in case.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .no_proxy()
            .user_agent("TwilioProxy/1.1");
        for pem in &options.extra_root_certificates {
            let certificate =
                reqwest::Certificate::from_pem(pem).map_err(|e| format!("a root certificate: {e}"))?;
            builder = builder.add_root_certificate(certificate);
        }
        if block {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(PublisherClient {
            client,
            block_private_networks: block,
        })
    }

    /// Sends one attempt: the whole exchange, body included, within `timeout`, and the body
    /// read only up to `max_bytes`.
    pub async fn send(
        &self,
        outbound: &Outbound,
        timeout: Duration,
        max_bytes: u64,
    ) -> Result<Answer, SendError> {
        if self.block_private_networks && host_is_blocked(&outbound.url) {
            return Err(SendError::Blocked(
                outbound.url.host_str().unwrap_or_default().to_owned(),
            ));
        }
        match tokio::time::timeout(timeout, self.exchange(outbound, max_bytes)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Timeout(timeout)),
        }
    }

    async fn exchange(&self, outbound: &Outbound, max_bytes: u64) -> Result<Answer, SendError> {
        // Built in place: the headers are moved in whole rather than merged one by one.
        let mut request = reqwest::Request::new(outbound.method.clone(), outbound.url.clone());
        *request.headers_mut() = outbound.headers.clone();
        *request.body_mut() = Some(outbound.body.clone().into());
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.content_length().is_some_and(|length| length > max_bytes) {
            return Err(SendError::TooLarge(max_bytes));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                // Dropping the response closes the connection: the rest is never read.
                return Err(SendError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            content_type,
            body: body.freeze(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirectsMarker;

fn classify(error: reqwest::Error) -> SendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if cause.is::<TooManyRedirectsMarker>() {
            return SendError::TooManyRedirects;
        }
        if cause.is::<BlockedRedirect>() {
            return SendError::Blocked("a redirect target".to_owned());
        }
        source = cause.source();
    }
    if error.is_redirect() {
        SendError::TooManyRedirects
    } else if error.is_connect() {
        SendError::Connect(root_cause(&error))
    } else if error.is_timeout() {
        SendError::Timeout(Duration::ZERO)
    } else {
        SendError::Transport(root_cause(&error))
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}

/// Installs the ring crypto provider for rustls, once per process (reqwest is built without a
/// default provider so that only one is compiled in).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(private.parse().expect("an address")), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.128.0.1"] {
            assert!(is_public(public.parse().expect("an address")), "{public}");
        }
    }

    #[test]
    fn errors_map_to_one_code_each() {
        assert_eq!(SendError::Timeout(Duration::ZERO).code(), AddOnErrorCode::Timeout);
        assert_eq!(SendError::TooLarge(1).code(), AddOnErrorCode::ResponseTooLarge);
        assert_eq!(
            SendError::TooManyRedirects.code(),
            AddOnErrorCode::TooManyRedirects
        );
        assert_eq!(
            SendError::Connect(String::new()).code(),
            AddOnErrorCode::ProviderUnavailable
        );
        assert!(SendError::Connect(String::new()).is_retryable());
        assert!(!SendError::Timeout(Duration::ZERO).is_retryable());
        assert!(!SendError::TooLarge(1).is_retryable());
    }
}

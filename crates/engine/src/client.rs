//! The outbound HTTP client for publisher requests, kept apart from delivery policy: it owns
//! the connection pool, TLS (1.2 at least), the redirect limit, the guard against private
//! addresses, the attempt's timeout and the size cap, and reports each failure as its own kind.
//! Whether to retry is the caller's decision, made on the typed error.
//!
//! It is hyper's pooled client with rustls (the platform's roots plus any extra ones), not a
//! higher-level client: the request path sends the URL it signed without parsing it again, and
//! redirects are followed here, where the private-address guard can see every hop.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use addons_domain::error_code::AddOnErrorCode;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use url::Url;

/// At most this many redirects are followed (Twilio's limit; more is error 61008).
pub const MAX_REDIRECTS: usize = 5;

/// The `User-Agent` of every request, as Twilio's own Add-on requests send.
const USER_AGENT: &str = "TwilioProxy/1.1";

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
    pub method: Method,
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

type Pool = Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>;

/// The client.
#[derive(Debug, Clone)]
pub struct PublisherClient {
    client: Pool,
    connector: HttpsConnector<HttpConnector<Resolver>>,
    pool_idle_timeout: Duration,
    id: u64,
    block_private_networks: bool,
}

/// Tells the clients apart in [`OWN_POOLS`].
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The connection pools this thread has of its own, by client (see
    /// [`PublisherClient::own_pool_on_this_thread`]).
    static OWN_POOLS: RefCell<Vec<(u64, Pool)>> = const { RefCell::new(Vec::new()) };
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

/// The system resolver, dropping non-public addresses when the guard is on. (Addresses
/// written in the URL never reach it: [`host_is_blocked`] checks those, on every hop.)
#[derive(Debug, Clone)]
struct Resolver {
    public_only: bool,
}

type Resolving = Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let public_only = self.public_only;
        Box::pin(async move {
            let host = name.as_str();
            let found = tokio::net::lookup_host((host, 0)).await?;
            let usable: Vec<SocketAddr> = found.filter(|a| !public_only || is_public(a.ip())).collect();
            if usable.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{host} resolves to no public address"
                )));
            }
            Ok(usable.into_iter())
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

/// The rustls configuration: TLS 1.2 or 1.3, certificates checked against the platform's
/// roots plus `extra_roots` (PEM).
fn tls_config(extra_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig, String> {
    let mut roots: Vec<CertificateDer<'static>> = Vec::new();
    for pem in extra_roots {
        for certificate in CertificateDer::pem_slice_iter(pem) {
            roots.push(certificate.map_err(|e| format!("a root certificate: {e}"))?);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, Arc::clone(&provider))
        .map_err(|e| format!("the certificate verifier: {e}"))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("the TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

impl PublisherClient {
    /// Builds the client.
    pub fn new(options: &ClientOptions) -> Result<PublisherClient, String> {
        install_crypto_provider();
        let block = options.block_private_networks;
        let mut http = HttpConnector::new_with_resolver(Resolver { public_only: block });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(options.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(&options.extra_root_certificates)?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        Ok(PublisherClient {
            client: pool(&https, options.pool_idle_timeout),
            connector: https,
            pool_idle_timeout: options.pool_idle_timeout,
            id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
            block_private_networks: block,
        })
    }

    /// Gives the calling thread a connection pool of its own: from then on, requests this
    /// client sends from this thread use connections whose tasks were spawned here. The
    /// gateway's serving threads each run a single-threaded runtime and call this first, so
    /// that a Lookup and its publisher connection never wake each other across threads. Other
    /// threads share one pool. The pool goes away with the thread.
    pub fn own_pool_on_this_thread(&self) {
        OWN_POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            if !pools.iter().any(|(id, _)| *id == self.id) {
                pools.push((self.id, pool(&self.connector, self.pool_idle_timeout)));
            }
        });
    }

    fn request(&self, request: Request<Full<Bytes>>) -> ResponseFuture {
        OWN_POOLS.with(|pools| {
            let pools = pools.borrow();
            let own = pools.iter().find(|(id, _)| *id == self.id);
            own.map_or(&self.client, |(_, pool)| pool).request(request)
        })
    }

    /// Sends one attempt: the whole exchange, redirects and body included, within `timeout`,
    /// and the body read only up to `max_bytes`.
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
        let mut hop = Hop {
            method: outbound.method.clone(),
            url: Cow::Borrowed(&outbound.url),
            with_body: true,
            with_credentials: true,
        };
        let mut redirects = 0;
        loop {
            let response = self.request(hop.request(outbound)?).await.map_err(classify)?;
            let Some(location) = redirect_location(&response) else {
                return read_answer(response, max_bytes).await;
            };
            if redirects == MAX_REDIRECTS {
                return Err(SendError::TooManyRedirects);
            }
            let next = location
                .to_str()
                .ok()
                .and_then(|location| hop.url.join(location).ok())
                .filter(|next| matches!(next.scheme(), "http" | "https"))
                .ok_or_else(|| SendError::Transport("a redirect to an invalid location".to_owned()))?;
            if self.block_private_networks && host_is_blocked(&next) {
                return Err(SendError::Blocked("a redirect target".to_owned()));
            }
            hop.follow(response.status(), next);
            redirects += 1;
        }
    }
}

/// A pooled client over `connector`.
fn pool(connector: &HttpsConnector<HttpConnector<Resolver>>, idle_timeout: Duration) -> Pool {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle_timeout)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector.clone())
}

/// Where one request of an exchange goes, and what it still carries after the redirects so far.
struct Hop<'a> {
    method: Method,
    url: Cow<'a, Url>,
    /// Whether the body (and its headers) is still sent: a 301, 302 or 303 turns the request
    /// into a GET without one.
    with_body: bool,
    /// Whether credentials are still sent: they are dropped once a redirect leaves the origin.
    with_credentials: bool,
}

/// Headers dropped with the body.
const BODY_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
];

/// Headers dropped when a redirect leaves the origin.
const CREDENTIAL_HEADERS: [header::HeaderName; 3] =
    [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION];

impl Hop<'_> {
    fn request(&self, outbound: &Outbound) -> Result<Request<Full<Bytes>>, SendError> {
        let uri = Uri::try_from(self.url.as_str())
            .map_err(|e| SendError::Transport(format!("the URL cannot be sent: {e}")))?;
        let body = if self.with_body {
            outbound.body.clone()
        } else {
            Bytes::new()
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        *headers = outbound.headers.clone();
        if !self.with_body {
            for name in &BODY_HEADERS {
                headers.remove(name);
            }
        }
        if !self.with_credentials {
            for name in &CREDENTIAL_HEADERS {
                headers.remove(name);
            }
        }
        headers
            .entry(header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        Ok(request)
    }

    /// Moves to the redirect's target, as browsers and HTTP clients do: 307 and 308 repeat
    /// the request; 303 (and 301 or 302 after a POST) fetch the target with a GET.
    fn follow(&mut self, status: StatusCode, next: Url) {
        let becomes_get = match status {
            StatusCode::SEE_OTHER => self.method != Method::HEAD,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => self.method == Method::POST,
            _ => false,
        };
        if becomes_get {
            self.method = Method::GET;
            self.with_body = false;
        }
        if next.origin() != self.url.origin() {
            self.with_credentials = false;
        }
        self.url = Cow::Owned(next);
    }
}

/// The `Location` of a redirect the client follows, if the response is one.
fn redirect_location<B>(response: &http::Response<B>) -> Option<&HeaderValue> {
    match response.status() {
        StatusCode::MOVED_PERMANENTLY
        | StatusCode::FOUND
        | StatusCode::SEE_OTHER
        | StatusCode::TEMPORARY_REDIRECT
        | StatusCode::PERMANENT_REDIRECT => response.headers().get(header::LOCATION),
        _ => None,
    }
}

/// Reads the answer's body, up to `max_bytes`: a declared length over the cap is refused
/// before reading, and a body streamed past it is dropped (closing the connection) at once.
async fn read_answer(
    response: http::Response<hyper::body::Incoming>,
    max_bytes: u64,
) -> Result<Answer, SendError> {
    let (parts, incoming) = response.into_parts();
    if incoming.size_hint().lower() > max_bytes {
        return Err(SendError::TooLarge(max_bytes));
    }
    let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    // An answer that arrives in one piece is kept without copying.
    let body = match Limited::new(incoming, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return Err(SendError::TooLarge(max_bytes)),
        Err(error) => return Err(SendError::Transport(root_cause(&*error))),
    };
    Ok(Answer {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    })
}

fn classify(error: hyper_util::client::legacy::Error) -> SendError {
    if error.is_connect() {
        SendError::Connect(root_cause(&error))
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

/// Installs the ring crypto provider as rustls's process default, once (the other TLS users
/// in the process, such as PostgreSQL connections, rely on it; this client names its own).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;

    use http_body_util::combinators::BoxBody;
    use http_body_util::{Full, StreamBody};
    use hyper::body::{Frame, Incoming};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        method: Method,
        path: String,
        authorization: Option<String>,
        content_type: Option<String>,
        user_agent: Option<String>,
        body: Bytes,
    }

    type Reply = http::Response<BoxBody<Bytes, Infallible>>;

    fn reply(status: u16, location: Option<&str>, body: BoxBody<Bytes, Infallible>) -> Reply {
        let mut response = http::Response::new(body);
        *response.status_mut() = StatusCode::from_u16(status).expect("a status");
        if let Some(location) = location {
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(location).expect("a location"),
            );
        }
        response
    }

    fn text(body: &'static str) -> BoxBody<Bytes, Infallible> {
        Full::new(Bytes::from_static(body.as_bytes())).boxed()
    }

    /// Answers by path: `/hops/N` redirects N more times, `/see-other` (303), `/temporary`
    /// (307) and `/found` (302) redirect to `/echo`, `/elsewhere` to `/echo` on `localhost`
    /// (another origin), `/big` is 1000 bytes with a length, `/chunked` 1000 bytes without.
    fn route(port: u16, path: &str) -> Reply {
        if let Some(hops) = path.strip_prefix("/hops/") {
            let hops: u32 = hops.parse().expect("a hop count");
            return if hops == 0 {
                reply(200, None, text("arrived"))
            } else {
                reply(302, Some(&format!("/hops/{}", hops - 1)), text(""))
            };
        }
        match path {
            "/see-other" => reply(303, Some("/echo"), text("")),
            "/temporary" => reply(307, Some("/echo"), text("")),
            "/found" => reply(302, Some("/echo"), text("")),
            "/elsewhere" => reply(307, Some(&format!("http://localhost:{port}/echo")), text("")),
            "/nowhere" => reply(302, Some("ftp://example.com/file"), text("")),
            "/big" => reply(200, None, Full::new(Bytes::from(vec![b'x'; 1000])).boxed()),
            "/chunked" => {
                let chunks = (0..10).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 100]))));
                reply(
                    200,
                    None,
                    BodyExt::boxed(StreamBody::new(futures::stream::iter(chunks))),
                )
            }
            _ => reply(200, None, text("{}")),
        }
    }

    async fn seen_of(request: http::Request<Incoming>) -> Seen {
        let header = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (authorization, content_type, user_agent) = (
            header(header::AUTHORIZATION),
            header(header::CONTENT_TYPE),
            header(header::USER_AGENT),
        );
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let body = request.into_body().collect().await.expect("the body").to_bytes();
        Seen {
            method,
            path,
            authorization,
            content_type,
            user_agent,
            body,
        }
    }

    /// A plain HTTP test server on 127.0.0.1; returns its port and what it has seen.
    async fn server() -> (u16, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let service = service_fn(move |request: http::Request<Incoming>| {
                    let log = Arc::clone(&log);
                    async move {
                        let seen = seen_of(request).await;
                        let answer = route(port, &seen.path);
                        log.lock().expect("the log").push(seen);
                        Ok::<_, Infallible>(answer)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (port, seen)
    }

    fn outbound(method: Method, url: &str) -> Outbound {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Outbound {
            method,
            url: Url::parse(url).expect("a URL"),
            headers,
            body: Bytes::from_static(b"{\"number\":\"+15550001111\"}"),
        }
    }

    fn client() -> PublisherClient {
        PublisherClient::new(&ClientOptions::default()).expect("a client")
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn follows_five_redirects_and_refuses_a_sixth() {
        let (port, seen) = server().await;
        let client = client();
        let five = outbound(Method::GET, &format!("http://127.0.0.1:{port}/hops/5"));
        let answer = client.send(&five, 5 * SECOND, 1000).await.expect("an answer");
        assert_eq!((answer.status, &answer.body[..]), (200, &b"arrived"[..]));
        assert_eq!(seen.lock().expect("the log").len(), 6);

        let six = outbound(Method::GET, &format!("http://127.0.0.1:{port}/hops/6"));
        let error = client.send(&six, 5 * SECOND, 1000).await.expect_err("too many");
        assert_eq!(error, SendError::TooManyRedirects);
        assert_eq!(error.code(), AddOnErrorCode::TooManyRedirects);
    }

    #[tokio::test]
    async fn see_other_and_found_after_post_fetch_with_get_while_307_repeats_the_post() {
        let (port, seen) = server().await;
        let client = client();
        for (path, method, with_body) in [
            ("/see-other", Method::GET, false),
            ("/found", Method::GET, false),
            ("/temporary", Method::POST, true),
        ] {
            let request = outbound(Method::POST, &format!("http://127.0.0.1:{port}{path}"));
            client.send(&request, 5 * SECOND, 1000).await.expect("an answer");
            let last = seen.lock().expect("the log").last().cloned().expect("a request");
            assert_eq!((last.path.as_str(), &last.method), ("/echo", &method), "{path}");
            assert_eq!(last.body.is_empty(), !with_body, "{path}");
            assert_eq!(last.content_type.is_some(), with_body, "{path}");
            assert_eq!(last.authorization.as_deref(), Some("Bearer secret"), "{path}");
            assert_eq!(last.user_agent.as_deref(), Some(USER_AGENT), "{path}");
        }
    }

    #[tokio::test]
    async fn credentials_are_not_sent_to_another_origin() {
        let (port, seen) = server().await;
        let request = outbound(Method::POST, &format!("http://127.0.0.1:{port}/elsewhere"));
        client()
            .send(&request, 5 * SECOND, 1000)
            .await
            .expect("an answer");
        let log = seen.lock().expect("the log");
        assert_eq!(log[0].authorization.as_deref(), Some("Bearer secret"));
        assert_eq!((log[1].path.as_str(), &log[1].authorization), ("/echo", &None));
        assert_eq!(log[1].body, request.body, "a 307 keeps the body");
    }

    #[tokio::test]
    async fn a_redirect_to_another_scheme_is_a_transport_failure() {
        let (port, _) = server().await;
        let request = outbound(Method::GET, &format!("http://127.0.0.1:{port}/nowhere"));
        let error = client()
            .send(&request, 5 * SECOND, 1000)
            .await
            .expect_err("refused");
        assert!(matches!(error, SendError::Transport(_)), "{error:?}");
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused_with_or_without_a_length() {
        let (port, _) = server().await;
        let client = client();
        for path in ["/big", "/chunked"] {
            let request = outbound(Method::GET, &format!("http://127.0.0.1:{port}{path}"));
            let error = client
                .send(&request, 5 * SECOND, 999)
                .await
                .expect_err("too large");
            assert_eq!(error, SendError::TooLarge(999), "{path}");
            let answer = client.send(&request, 5 * SECOND, 1000).await.expect("at the cap");
            assert_eq!(answer.body.len(), 1000, "{path}");
        }
    }

    #[tokio::test]
    async fn refused_connections_and_blocked_addresses_are_told_apart() {
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = closed.local_addr().expect("an address").port();
        drop(closed);
        let request = outbound(Method::GET, &format!("http://127.0.0.1:{port}/"));
        let error = client()
            .send(&request, 5 * SECOND, 1000)
            .await
            .expect_err("refused");
        assert!(
            matches!(error, SendError::Connect(_)) && error.is_retryable(),
            "{error:?}"
        );

        let guarded = PublisherClient::new(&ClientOptions {
            block_private_networks: true,
            ..ClientOptions::default()
        })
        .expect("a client");
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            "http://[::1]/".to_owned(),
        ] {
            let error = guarded
                .send(&outbound(Method::GET, &url), 5 * SECOND, 1000)
                .await
                .expect_err("blocked");
            assert!(matches!(error, SendError::Blocked(_)), "{url}: {error:?}");
        }
    }

    #[tokio::test]
    async fn https_publishers_are_verified_against_the_extra_roots() {
        install_crypto_provider();
        let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).expect("parameters");
        authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let authority =
            rcgen::CertifiedIssuer::self_signed(authority, rcgen::KeyPair::generate().expect("a key"))
                .expect("an authority");
        let key = rcgen::KeyPair::generate().expect("a key");
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("parameters")
            .signed_by(&key, &authority)
            .expect("a certificate");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![certificate.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("a key"),
            )
            .expect("a server configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service =
                        service_fn(|_| async { Ok::<_, Infallible>(reply(200, None, text("secure"))) });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let request = outbound(Method::GET, &format!("https://localhost:{port}/"));

        let trusting = PublisherClient::new(&ClientOptions {
            extra_root_certificates: vec![authority.pem().into_bytes()],
            ..ClientOptions::default()
        })
        .expect("a client");
        let answer = trusting
            .send(&request, 5 * SECOND, 1000)
            .await
            .expect("an answer");
        assert_eq!(&answer.body[..], b"secure");

        let error = client()
            .send(&request, 5 * SECOND, 1000)
            .await
            .expect_err("untrusted");
        assert!(matches!(error, SendError::Connect(_)), "{error:?}");
    }

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

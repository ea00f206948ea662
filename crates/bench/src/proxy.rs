//! A bare reverse proxy on the gateway's own stack: one thread per core, each a single-threaded
//! tokio runtime with its own `SO_REUSEPORT` socket on the port and its own hyper pooled
//! client to the publisher, and hyper's HTTP/1 server with `TCP_NODELAY`. Each request is
//! passed through as it is (path, query and headers) and the answer passed back; nothing else
//! happens. It is the ceiling of what any service on this stack can do with one upstream call
//! per request, measured next to nginx so that the gateway's cost can be split into the
//! stack's and its own.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::{TcpListener, TcpSocket};

type Upstream = Client<HttpConnector, Incoming>;

/// Serves on 127.0.0.1:`port`, passing every request to 127.0.0.1:`upstream_port`, until the
/// process is stopped or, with `watch_stdin`, standard input closes.
pub async fn serve(port: u16, upstream_port: u16, watch_stdin: bool) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    for index in 0..threads {
        let listener = bind(addr)
            .and_then(TcpListener::into_std)
            .with_context(|| format!("binding {addr}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting a proxy thread's runtime")?;
        std::thread::Builder::new()
            .name(format!("proxy-{index}"))
            .spawn(move || runtime.block_on(accept(listener, upstream_port)))
            .context("starting a proxy thread")?;
    }
    crate::publisher::until_stdin_closes(std::future::pending(), watch_stdin).await;
    Ok(())
}

/// A listening socket sharing its port with the other threads' (`SO_REUSEPORT`).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// One thread's accept loop, with its own pooled client.
async fn accept(listener: std::net::TcpListener, upstream_port: u16) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        eprintln!("a proxy thread could not take its socket");
        return;
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let authority = format!("127.0.0.1:{upstream_port}");
    let service = service_fn(move |request| pass(client.clone(), authority.clone(), request));
    crate::publisher::accept_loop(listener, service).await;
}

async fn pass(
    client: Upstream,
    authority: String,
    mut request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri = match Uri::try_from(format!("http://{authority}{path}")) {
        Ok(uri) => uri,
        Err(_) => return Ok(failure(StatusCode::BAD_REQUEST)),
    };
    *request.uri_mut() = uri;
    Ok(match client.request(request).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(_) => failure(StatusCode::BAD_GATEWAY),
    })
}

fn failure(status: StatusCode) -> Response<BoxBody<Bytes, hyper::Error>> {
    let mut response = Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_requests_through_to_the_publisher() {
        let publisher_port = crate::procs::free_port().expect("a free port");
        tokio::spawn(crate::publisher::serve(publisher_port, false));
        let proxy_port = crate::procs::free_port().expect("a free port");
        tokio::spawn(serve(proxy_port, publisher_port, false));
        let client = http::client(1);
        let url = format!("http://127.0.0.1:{proxy_port}/fast");
        for _ in 0..100 {
            if let Ok(reply) = http::send(&client, hyper::Method::GET, &url, None, http::Body::Empty).await {
                assert_eq!(reply.status, 200);
                assert_eq!(&reply.body[..], crate::publisher::ANSWER);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the proxy did not answer");
    }
}

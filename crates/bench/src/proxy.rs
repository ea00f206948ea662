//! A bare reverse proxy on the gateway's own stack: tokio's multi-threaded runtime, hyper's
//! HTTP/1 server with `TCP_NODELAY`, and hyper's pooled client to the publisher. Each request
//! is passed through as it is (path, query and headers) and the answer passed back; nothing
//! else happens. It is the ceiling of what any service on this stack can do with one upstream
//! call per request, measured next to nginx so that the gateway's cost can be split into the
//! stack's and its own.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type Upstream = Client<HttpConnector, Incoming>;

/// Serves on 127.0.0.1:`port`, passing every request to 127.0.0.1:`upstream_port`, until the
/// process is stopped or, with `watch_stdin`, standard input closes.
pub async fn serve(port: u16, upstream_port: u16, watch_stdin: bool) -> anyhow::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let authority = format!("127.0.0.1:{upstream_port}");
    let service = service_fn(move |request| pass(client.clone(), authority.clone(), request));
    crate::publisher::serve_http1(port, service, watch_stdin).await
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

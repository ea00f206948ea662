//! The fast publisher: answers any method and path with a small JSON object at once, and
//! paths under `/slow` with the same object after [`SLOW_DELAY`] (a timer, not a blocked
//! thread, so slow requests cost nothing while they wait).

use std::convert::Infallible;
use std::io::Read;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What every request gets: a successful Add-on result.
pub const ANSWER: &[u8] = br#"{"score": 1, "status": "success"}"#;

/// How long `/slow` waits before answering.
pub const SLOW_DELAY: Duration = Duration::from_millis(100);

/// Serves on 127.0.0.1:`port` until the process is stopped or, with `watch_stdin`, until
/// standard input closes (the bench holds it open, so the publisher goes away with the bench
/// even when the bench is killed outright).
pub async fn serve(port: u16, watch_stdin: bool) -> anyhow::Result<()> {
    serve_http1(port, service_fn(answer), watch_stdin).await
}

/// Serves HTTP/1 with `service` on 127.0.0.1:`port` (`TCP_NODELAY` on every connection) until
/// the process is stopped or, with `watch_stdin`, standard input closes.
pub async fn serve_http1<S, B>(port: u16, service: S, watch_stdin: bool) -> anyhow::Result<()>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let service = service.clone();
                    tokio::spawn(async move {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors and the like: the bench sees failed requests,
                // and a pause keeps this loop from spinning.
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    until_stdin_closes(accept, watch_stdin).await;
    Ok(())
}

/// Runs `serve` until it ends or, with `watch_stdin`, until standard input closes (the bench
/// holds its children's standard input open, so they go away with the bench even when the
/// bench is killed outright).
pub async fn until_stdin_closes(serve: impl std::future::Future<Output = ()>, watch_stdin: bool) {
    if watch_stdin {
        // A blocking read on its own thread: the runtime's stdin support is not compiled in.
        let closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = Vec::new();
                std::io::stdin().read_to_end(&mut sink)
            })
            .await;
        };
        tokio::select! {
            () = serve => {},
            () = closed => {},
        }
    } else {
        serve.await;
    }
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let slow = request.uri().path().starts_with("/slow");
    // The gateway sends a JSON body: reading it keeps the connection reusable.
    let _ = request.into_body().collect().await;
    if slow {
        tokio::time::sleep(SLOW_DELAY).await;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(ANSWER)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    #[tokio::test]
    async fn answers_fast_and_slow_paths() {
        let port = crate::procs::free_port().expect("a free port");
        let server = tokio::spawn(serve(port, false));
        let client = http::client(4);
        let url = format!("http://127.0.0.1:{port}");
        let mut reply = None;
        for _ in 0..100 {
            match http::send(
                &client,
                hyper::Method::POST,
                &format!("{url}/fast"),
                None,
                http::Body::Empty,
            )
            .await
            {
                Ok(answer) => {
                    reply = Some(answer);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let reply = reply.expect("the publisher answers");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.as_ref(), ANSWER);

        let started = std::time::Instant::now();
        let reply = http::send(
            &client,
            hyper::Method::GET,
            &format!("{url}/slow/x"),
            None,
            http::Body::Empty,
        )
        .await
        .expect("the slow path answers");
        assert_eq!(reply.body.as_ref(), ANSWER);
        assert!(started.elapsed() >= SLOW_DELAY);
        server.abort();
    }
}

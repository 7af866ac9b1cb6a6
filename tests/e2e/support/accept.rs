//! The accept loop every test peer runs on its own thread (upstreams, the test relay,
//! the OTLP collector, the Ziti test network); also mounted by the benchmarks.

/// A server for the tests' peers: on a thread and runtime of its own, `serve` runs for
/// each connection `listener` accepts, until `stop` fires (or forever). The runtime is
/// dropped at the end, which closes every connection it still holds.
pub fn serve_on_thread<F, Fut>(
    listener: std::net::TcpListener,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
    serve: F,
) -> std::thread::JoinHandle<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let stop = async move {
                match stop {
                    Some(rx) => {
                        let _ = rx.await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(serve(stream));
                        }
                    }
                }
            }
        });
    })
}

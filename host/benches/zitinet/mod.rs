//! The OpenZiti test network of the end-to-end tests (tests/e2e/support/ziti), for the
//! Ziti benchmark, with the two helpers it expects of its parent module.
use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    super::common::repo_root()
}

#[path = "../../../tests/e2e/support/ziti/mod.rs"]
pub mod ziti;

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

//! Captured guest stdout/stderr.
//!
//! Owns: a bounded in-memory sink for one request's stdout or stderr, later turned
//! into log records. Must not touch: the host's own stdio (a guest never writes there).
//! Unlike wasmtime's `MemoryOutputPipe`, writes past the cap are dropped and counted
//! rather than trapping: a chatty component should lose log lines, not its request.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Default)]
struct Buffer {
    data: BytesMut,
    dropped: usize,
}

#[derive(Clone)]
pub struct CapturedOutput {
    capacity: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl CapturedOutput {
    pub fn new(capacity: usize) -> Self {
        CapturedOutput {
            capacity,
            buffer: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(buf.data.len());
        let take = room.min(bytes.len());
        buf.data.extend_from_slice(&bytes[..take]);
        buf.dropped += bytes.len() - take;
    }

    /// What the guest wrote, and how many bytes were dropped past the cap.
    pub fn take(&self) -> (Bytes, usize) {
        let mut buf = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = std::mem::take(&mut buf.dropped);
        (buf.data.split().freeze(), dropped)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_and_counts_past_capacity() {
        let out = CapturedOutput::new(4);
        out.push(b"abc");
        out.push(b"def");
        let (data, dropped) = out.take();
        assert_eq!(&data[..], b"abcd");
        assert_eq!(dropped, 2);
        assert_eq!(out.take().1, 0);
    }
}

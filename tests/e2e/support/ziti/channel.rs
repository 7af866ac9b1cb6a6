//! OpenZiti channel v2 framing as the test router speaks it: the 20-byte header
//! (magic, content type, sequence, headers length, body length, all little-endian),
//! the `{key, length, value}` headers and the body, plus the content-type and header
//! constants of the channel and edge layers.
//!
//! Owns the byte format only; what a message means is router.rs's business.

use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncReadExt};

pub const MAGIC: [u8; 4] = [0x03, 0x06, 0x09, 0x0c];
/// Larger frames are refused: no SDK sends them, and a bad length must not allocate.
const MAX_SECTION: usize = 16 << 20;

pub mod content {
    pub const HELLO: i32 = 0;
    pub const PING: i32 = 1;
    pub const RESULT: i32 = 2;
    pub const LATENCY: i32 = 3;
    pub const LATENCY_RESPONSE: i32 = 4;
    pub const HEARTBEAT: i32 = 5;
    pub const CONNECT: i32 = 60783;
    pub const STATE_CONNECTED: i32 = 60784;
    pub const STATE_CLOSED: i32 = 60785;
    pub const DATA: i32 = 60786;
    pub const DIAL: i32 = 60787;
    pub const DIAL_SUCCESS: i32 = 60788;
    pub const DIAL_FAILED: i32 = 60789;
    pub const BIND: i32 = 60790;
    pub const UNBIND: i32 = 60791;
    pub const STATE_SESSION_ENDED: i32 = 60792;
    pub const PROBE: i32 = 60793;
    pub const UPDATE_BIND: i32 = 60794;
    pub const BIND_SUCCESS: i32 = 60800;
    pub const UPDATE_TOKEN: i32 = 60803;
    pub const CONNECT_V2: i32 = 60806;
}

pub mod header {
    pub const CONNECTION_ID: i32 = 0;
    pub const REPLY_FOR: i32 = 1;
    pub const RESULT_SUCCESS: i32 = 2;
    pub const HELLO_LISTENER: i32 = 3;
    pub const HELLO_VERSION: i32 = 4;
    /// Headers 128..=255 are reflected into replies (latency probe time, UUID).
    pub const REFLECTED_FIRST: i32 = 128;
    pub const REFLECTED_LAST: i32 = 255;
    pub const CONN_ID: i32 = 1000;
    pub const SEQ: i32 = 1001;
    pub const SESSION_TOKEN: i32 = 1002;
    pub const PUBLIC_KEY: i32 = 1003;
    pub const COST: i32 = 1004;
    pub const PRECEDENCE: i32 = 1005;
    pub const TERMINATOR_IDENTITY: i32 = 1006;
    pub const CALLER_ID: i32 = 1008;
    pub const CRYPTO_METHOD: i32 = 1009;
    pub const FLAGS: i32 = 1010;
    pub const APP_DATA: i32 = 1011;
    pub const ERROR_CODE: i32 = 1014;
}

/// Edge flag: the sender will write no more on this connection.
pub const FLAG_FIN: u32 = 1;

#[derive(Debug, Clone, Default)]
pub struct Message {
    pub content: i32,
    pub seq: i32,
    pub headers: BTreeMap<i32, Vec<u8>>,
    pub body: Vec<u8>,
}

impl Message {
    pub fn new(content: i32) -> Message {
        Message {
            content,
            ..Message::default()
        }
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Message {
        self.body = body.into();
        self
    }

    pub fn with_bytes(mut self, key: i32, value: impl Into<Vec<u8>>) -> Message {
        self.headers.insert(key, value.into());
        self
    }

    pub fn with_u32(self, key: i32, value: u32) -> Message {
        self.with_bytes(key, value.to_le_bytes().to_vec())
    }

    pub fn with_i32(self, key: i32, value: i32) -> Message {
        self.with_bytes(key, value.to_le_bytes().to_vec())
    }

    pub fn with_bool(self, key: i32, value: bool) -> Message {
        self.with_bytes(key, vec![value as u8])
    }

    /// A reply to `to`: ReplyFor = its sequence, and its reflected headers.
    pub fn reply_to(mut self, to: &Message) -> Message {
        self = self.with_i32(header::REPLY_FOR, to.seq);
        for (k, v) in to
            .headers
            .range(header::REFLECTED_FIRST..=header::REFLECTED_LAST)
        {
            self.headers.insert(*k, v.clone());
        }
        self
    }

    pub fn bytes(&self, key: i32) -> Option<&[u8]> {
        self.headers.get(&key).map(Vec::as_slice)
    }

    pub fn u32(&self, key: i32) -> Option<u32> {
        let b = self.bytes(key)?;
        Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
    }

    pub fn i32(&self, key: i32) -> Option<i32> {
        self.u32(key).map(|v| v as i32)
    }

    pub fn string(&self, key: i32) -> Option<String> {
        self.bytes(key)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn encode(&self) -> Vec<u8> {
        let headers_len: usize = self.headers.values().map(|v| 8 + v.len()).sum();
        let mut out = Vec::with_capacity(20 + headers_len + self.body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.content.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&(headers_len as i32).to_le_bytes());
        out.extend_from_slice(&(self.body.len() as i32).to_le_bytes());
        for (k, v) in &self.headers {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&(v.len() as i32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Read one frame; `Ok(None)` at a clean end of stream between frames.
    pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Message>> {
        let mut head = [0u8; 20];
        match r.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        if head[..4] != MAGIC {
            return Err(bad("not a channel v2 frame (bad magic)"));
        }
        let word = |i: usize| i32::from_le_bytes(head[i..i + 4].try_into().unwrap());
        let (content, seq) = (word(4), word(8));
        let (headers_len, body_len) = (word(12), word(16));
        if headers_len < 0
            || body_len < 0
            || headers_len as usize > MAX_SECTION
            || body_len as usize > MAX_SECTION
        {
            return Err(bad("frame section length out of range"));
        }
        let mut hbuf = vec![0u8; headers_len as usize];
        r.read_exact(&mut hbuf).await?;
        let mut body = vec![0u8; body_len as usize];
        r.read_exact(&mut body).await?;
        let mut headers = BTreeMap::new();
        let mut at = 0usize;
        while at < hbuf.len() {
            if hbuf.len() - at < 8 {
                return Err(bad("truncated header"));
            }
            let key = i32::from_le_bytes(hbuf[at..at + 4].try_into().unwrap());
            let len = i32::from_le_bytes(hbuf[at + 4..at + 8].try_into().unwrap());
            at += 8;
            if len < 0 || (len as usize) > hbuf.len() - at {
                return Err(bad("header value overruns the headers section"));
            }
            headers.insert(key, hbuf[at..at + len as usize].to_vec());
            at += len as usize;
        }
        Ok(Some(Message {
            content,
            seq,
            headers,
            body,
        }))
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

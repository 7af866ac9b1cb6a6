//! rathole 0.5's wire protocol (rapiz1/rathole `src/protocol.rs`, protocol version 1),
//! encoded with bincode 1 as rathole encodes it, so a stock `rathole` client speaks to
//! this host unchanged.
//!
//! Owns: the messages and their fixed sizes, and the digests (a service is named by
//! sha256 of its name; a control channel authenticates with sha256(token ‖ nonce),
//! which then names the session for its data channels). Must not touch: sockets,
//! transports or what a channel carries.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const PROTOCOL_VERSION: u8 = 1;

pub type Digest = [u8; 32];

/// The first message on every connection, from the client; the server answers a
/// control channel's with its own, carrying the nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hello {
    /// sha256(service name) from the client; the nonce from the server.
    ControlChannelHello(u8, Digest),
    /// The session key (the control channel's auth digest).
    DataChannelHello(u8, Digest),
}

/// sha256(token ‖ nonce).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth(pub Digest);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ack {
    Ok,
    ServiceNotExist,
    AuthFailed,
}

/// Server → client on a control channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlChannelCmd {
    CreateDataChannel,
    HeartBeat,
}

/// Server → client on a data channel, once, before the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataChannelCmd {
    StartForwardTcp,
    StartForwardUdp,
}

/// bincode 1 with its default options: fixed-width little-endian integers, enum
/// variants as u32.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("these messages always encode")
}

pub const HELLO_LEN: usize = 4 + 1 + 32;
pub const AUTH_LEN: usize = 32;

pub fn digest(data: &[u8]) -> Digest {
    Sha256::digest(data).into()
}

/// The session key a client proves it holds the token with.
pub fn session_key(token: &[u8], nonce: &Digest) -> Digest {
    let mut concat = token.to_vec();
    concat.extend_from_slice(nonce);
    digest(&concat)
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a rathole message: {0}")]
    Decode(String),
    #[error("rathole protocol version {0}; this host speaks version {PROTOCOL_VERSION} (rathole 0.4.x and 0.5)")]
    Version(u8),
}

async fn read_exact<const N: usize, R: AsyncRead + Unpin>(r: &mut R) -> Result<[u8; N], WireError> {
    let mut buf = [0u8; N];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    bincode::deserialize(bytes).map_err(|e| WireError::Decode(e.to_string()))
}

pub async fn read_hello<R: AsyncRead + Unpin>(r: &mut R) -> Result<Hello, WireError> {
    let hello: Hello = decode(&read_exact::<HELLO_LEN, _>(r).await?)?;
    match hello {
        Hello::ControlChannelHello(v, _) | Hello::DataChannelHello(v, _)
            if v != PROTOCOL_VERSION =>
        {
            Err(WireError::Version(v))
        }
        h => Ok(h),
    }
}

pub async fn read_auth<R: AsyncRead + Unpin>(r: &mut R) -> Result<Auth, WireError> {
    decode(&read_exact::<AUTH_LEN, _>(r).await?)
}

pub async fn send<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    message: &T,
) -> Result<(), WireError> {
    w.write_all(&encode(message)).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_rathole_s_byte_layout() {
        let d = digest(b"crm");
        let hello = encode(&Hello::ControlChannelHello(1, d));
        assert_eq!(hello.len(), HELLO_LEN);
        assert_eq!(&hello[..5], &[0, 0, 0, 0, 1]);
        assert_eq!(&hello[5..], &d);
        assert_eq!(
            &encode(&Hello::DataChannelHello(1, d))[..5],
            &[1, 0, 0, 0, 1]
        );
        assert_eq!(encode(&Auth(d)), d.to_vec());
        assert_eq!(encode(&Ack::Ok), [0, 0, 0, 0]);
        assert_eq!(encode(&Ack::ServiceNotExist), [1, 0, 0, 0]);
        assert_eq!(encode(&Ack::AuthFailed), [2, 0, 0, 0]);
        assert_eq!(encode(&ControlChannelCmd::CreateDataChannel), [0, 0, 0, 0]);
        assert_eq!(encode(&ControlChannelCmd::HeartBeat), [1, 0, 0, 0]);
        assert_eq!(encode(&DataChannelCmd::StartForwardTcp), [0, 0, 0, 0]);
        // sha256("crm"), as `printf crm | sha256sum` prints it.
        assert_eq!(
            hex::encode(d),
            "9261ceef0b969e70ac20f1510f07a1e0d8db05f20c75161a2ef43b4eba27a7aa"
        );
    }

    #[tokio::test]
    async fn a_hello_of_another_version_is_refused() {
        let bytes = encode(&Hello::ControlChannelHello(0, [0; 32]));
        let err = read_hello(&mut &bytes[..]).await.unwrap_err();
        assert!(matches!(err, WireError::Version(0)));
        let ok = encode(&Hello::DataChannelHello(1, [7; 32]));
        assert_eq!(
            read_hello(&mut &ok[..]).await.unwrap(),
            Hello::DataChannelHello(1, [7; 32])
        );
        let auth = session_key(b"token", &[1; 32]);
        assert_eq!(
            read_auth(&mut &encode(&Auth(auth))[..]).await.unwrap(),
            Auth(auth)
        );
    }
}

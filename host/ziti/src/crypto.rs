//! End-to-end encryption of one Ziti connection, byte-compatible with libsodium (the C
//! SDK's `crypto_kx` + `crypto_secretstream_xchacha20poly1305`).
//!
//! Owns: the dialer's ephemeral key pair, the client session keys, and one push stream
//! (what we send) and one pull stream (what the hosting side sends) per connection.
//! Must not touch: framing (edge.rs puts the bytes in Data messages) or key material of
//! the identity (that is TLS's).
//!
//! The key exchange is written here rather than taken from the `crypto_kx` crate:
//! crypto_kx 0.2 hands back the two halves of the BLAKE2b-512 output in the opposite
//! order to libsodium (its client `tx` is libsodium's client `rx`), so it cannot talk
//! to a libsodium peer. It is three lines on top of curve25519-dalek and blake2; the
//! unit tests check it against the real libsodium when the system has one.
//! The stream cipher itself is RustCrypto's `crypto_secretstream`.

use blake2::{Blake2b512, Digest};
use crypto_secretstream::{Header, Key, PullStream, PushStream, Tag};
use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::{OsRng, RngCore};

pub(crate) const HEADER_BYTES: usize = Header::BYTES;
/// Bytes a push adds to a message: the encrypted tag byte and the 16-byte MAC.
pub(crate) const OVERHEAD: usize = 17;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the hosting side's public key is not 32 bytes")]
    BadPublicKey,
    #[error("the key exchange produced a weak shared secret (a low-order public key)")]
    WeakKey,
    #[error("the hosting side's stream header is not 24 bytes")]
    BadHeader,
    #[error("a message from the hosting side failed authentication")]
    Forged,
}

/// The dialer's ephemeral key pair (one per connection, as the SDKs do).
pub struct KeyPair {
    secret: [u8; 32],
    public: [u8; 32],
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.secret = [0; 32];
    }
}

impl KeyPair {
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let public = MontgomeryPoint::mul_base_clamped(secret).to_bytes();
        KeyPair { secret, public }
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// libsodium `crypto_kx_client_session_keys`: (rx, tx) = BLAKE2b-512(q ‖ client_pk ‖
    /// server_pk) split in two halves, rx first.
    pub(crate) fn client_session_keys(&self, server_pk: &[u8]) -> Result<SessionKeys, CryptoError> {
        let server: [u8; 32] = server_pk
            .try_into()
            .map_err(|_| CryptoError::BadPublicKey)?;
        let shared = MontgomeryPoint(server).mul_clamped(self.secret).to_bytes();
        // libsodium's crypto_scalarmult refuses an all-zero result.
        if shared.iter().all(|b| *b == 0) {
            return Err(CryptoError::WeakKey);
        }
        let (rx, tx) = kx_halves(&shared, &self.public, &server);
        Ok(SessionKeys { rx, tx })
    }
}

impl KeyPair {
    /// libsodium `crypto_kx_server_session_keys`: the hosting side's keys (tests and
    /// the benchmark play that side).
    pub fn server_session_keys(&self, client_pk: &[u8; 32]) -> SessionKeys {
        let shared = MontgomeryPoint(*client_pk)
            .mul_clamped(self.secret)
            .to_bytes();
        let (tx, rx) = kx_halves(&shared, client_pk, &self.public);
        SessionKeys { rx, tx }
    }
}

/// libsodium crypto_kx's key material, BLAKE2b-512(q ‖ client_pk ‖ server_pk), as its
/// two halves: the client's (rx, tx), which are the server's (tx, rx).
fn kx_halves(
    shared: &[u8; 32],
    client_pk: &[u8; 32],
    server_pk: &[u8; 32],
) -> ([u8; 32], [u8; 32]) {
    let mut h = Blake2b512::new();
    h.update(shared);
    h.update(client_pk);
    h.update(server_pk);
    let keys = h.finalize();
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    first.copy_from_slice(&keys[..32]);
    second.copy_from_slice(&keys[32..]);
    (first, second)
}

/// Keys for one direction each: `rx` opens what the host sends, `tx` seals ours.
pub struct SessionKeys {
    pub rx: [u8; 32],
    pub tx: [u8; 32],
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        self.rx = [0; 32];
        self.tx = [0; 32];
    }
}

/// Our direction: the 24-byte header goes first, then one push per Data message.
pub struct Sealer {
    push: PushStream,
}

impl Sealer {
    /// The stream and the header to send as the first Data body.
    pub fn new(tx: &[u8; 32]) -> (Self, [u8; HEADER_BYTES]) {
        let (header, push) = PushStream::init(OsRng, &Key::from(*tx));
        (Sealer { push }, *header.as_ref())
    }

    /// Encrypt `plain` as one message (TAG_MESSAGE, no associated data).
    pub fn seal(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(plain.len() + OVERHEAD);
        buf.extend_from_slice(plain);
        // Pushing into a Vec cannot fail (the buffer grows; the counter cannot wrap
        // within 2^32 messages, each at most one Data frame).
        self.push
            .push(&mut buf, &[], Tag::Message)
            .expect("secretstream push into a growable buffer");
        buf
    }
}

/// The host's direction: the first Data body is its header, then one pull each.
pub struct Opener {
    rx: [u8; 32],
    pull: Option<PullStream>,
}

impl Drop for Opener {
    fn drop(&mut self) {
        self.rx = [0; 32];
    }
}

/// What a received Data body turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// The stream header: nothing for the application yet.
    Header,
    Message(Vec<u8>),
    /// TAG_FINAL: the host will send nothing more.
    Final(Vec<u8>),
}

impl Opener {
    pub fn new(rx: &[u8; 32]) -> Self {
        Opener {
            rx: *rx,
            pull: None,
        }
    }

    pub fn open(&mut self, body: Vec<u8>) -> Result<Opened, CryptoError> {
        let Some(pull) = self.pull.as_mut() else {
            let header = Header::try_from(body.as_slice()).map_err(|_| CryptoError::BadHeader)?;
            self.pull = Some(PullStream::init(header, &Key::from(self.rx)));
            return Ok(Opened::Header);
        };
        let mut buf = body;
        match pull.pull(&mut buf, &[]) {
            Ok(Tag::Final) => Ok(Opened::Final(buf)),
            Ok(_) => Ok(Opened::Message(buf)),
            Err(_) => Err(CryptoError::Forged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_ends_agree_and_round_trip() {
        let client = KeyPair::generate();
        let server = KeyPair::generate();
        let c = client.client_session_keys(server.public()).unwrap();
        let s = server.server_session_keys(client.public());
        assert_eq!(c.tx, s.rx);
        assert_eq!(c.rx, s.tx);
        let (mut sealer, header) = Sealer::new(&c.tx);
        let mut opener = Opener::new(&s.rx);
        assert_eq!(opener.open(header.to_vec()).unwrap(), Opened::Header);
        for msg in [&b"hello"[..], b"", &[7u8; 70_000]] {
            let sealed = sealer.seal(msg);
            assert_eq!(sealed.len(), msg.len() + OVERHEAD);
            assert_eq!(opener.open(sealed).unwrap(), Opened::Message(msg.to_vec()));
        }
        let mut forged = sealer.seal(b"x");
        forged[0] ^= 1;
        assert_eq!(opener.open(forged), Err(CryptoError::Forged));
    }

    #[test]
    fn refuses_bad_keys() {
        let client = KeyPair::generate();
        assert_eq!(
            client.client_session_keys(&[1; 31]).err(),
            Some(CryptoError::BadPublicKey)
        );
        assert_eq!(
            client.client_session_keys(&[0; 32]).err(),
            Some(CryptoError::WeakKey)
        );
        assert_eq!(
            Opener::new(&[0; 32]).open(vec![0; 23]).err(),
            Some(CryptoError::BadHeader)
        );
    }

    /// The real libsodium, loaded at run time (Debian's libsodium23; scripts/setup
    /// installs it). Skips with a message when absent.
    mod libsodium {
        use super::*;
        use std::ffi::{c_int, c_uchar, c_ulonglong, c_void, CStr};

        const STATE_BYTES: usize = 52;

        struct Sodium(*mut c_void);

        impl Sodium {
            fn open() -> Option<Sodium> {
                for name in [c"libsodium.so.23", c"libsodium.so.26", c"libsodium.so"] {
                    let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW) };
                    if !h.is_null() {
                        let s = Sodium(h);
                        let init: extern "C" fn() -> c_int = unsafe { s.sym(c"sodium_init") };
                        assert!(init() >= 0);
                        return Some(s);
                    }
                }
                eprintln!("SKIP: libsodium not found (scripts/setup installs libsodium23)");
                None
            }

            unsafe fn sym<T: Copy>(&self, name: &CStr) -> T {
                let p = unsafe { libc::dlsym(self.0, name.as_ptr()) };
                assert!(!p.is_null(), "{name:?} missing from libsodium");
                unsafe { std::mem::transmute_copy(&p) }
            }
        }

        type Kx = unsafe extern "C" fn(*mut c_uchar, *mut c_uchar) -> c_int;
        type KxSession = unsafe extern "C" fn(
            *mut c_uchar,
            *mut c_uchar,
            *const c_uchar,
            *const c_uchar,
            *const c_uchar,
        ) -> c_int;
        type InitPush = unsafe extern "C" fn(*mut c_uchar, *mut c_uchar, *const c_uchar) -> c_int;
        type InitPull = unsafe extern "C" fn(*mut c_uchar, *const c_uchar, *const c_uchar) -> c_int;
        type Push = unsafe extern "C" fn(
            *mut c_uchar,
            *mut c_uchar,
            *mut c_ulonglong,
            *const c_uchar,
            c_ulonglong,
            *const c_uchar,
            c_ulonglong,
            c_uchar,
        ) -> c_int;
        type Pull = unsafe extern "C" fn(
            *mut c_uchar,
            *mut c_uchar,
            *mut c_ulonglong,
            *mut c_uchar,
            *const c_uchar,
            c_ulonglong,
            *const c_uchar,
            c_ulonglong,
        ) -> c_int;

        #[test]
        fn interoperates_with_libsodium() {
            let Some(na) = Sodium::open() else { return };
            unsafe {
                let keypair: Kx = na.sym(c"crypto_kx_keypair");
                let server_session: KxSession = na.sym(c"crypto_kx_server_session_keys");
                let init_push: InitPush =
                    na.sym(c"crypto_secretstream_xchacha20poly1305_init_push");
                let init_pull: InitPull =
                    na.sym(c"crypto_secretstream_xchacha20poly1305_init_pull");
                let push: Push = na.sym(c"crypto_secretstream_xchacha20poly1305_push");
                let pull: Pull = na.sym(c"crypto_secretstream_xchacha20poly1305_pull");

                // libsodium hosts (server keys), we dial (client keys).
                let (mut spk, mut ssk) = ([0u8; 32], [0u8; 32]);
                assert_eq!(keypair(spk.as_mut_ptr(), ssk.as_mut_ptr()), 0);
                let client = KeyPair::generate();
                let ours = client.client_session_keys(&spk).unwrap();
                let (mut srx, mut stx) = ([0u8; 32], [0u8; 32]);
                assert_eq!(
                    server_session(
                        srx.as_mut_ptr(),
                        stx.as_mut_ptr(),
                        spk.as_ptr(),
                        ssk.as_ptr(),
                        client.public().as_ptr()
                    ),
                    0
                );
                assert_eq!(ours.tx, srx, "client tx must be libsodium's server rx");
                assert_eq!(ours.rx, stx, "client rx must be libsodium's server tx");

                // Our stream → libsodium pulls.
                let (mut sealer, header) = Sealer::new(&ours.tx);
                let mut state = [0u8; STATE_BYTES];
                assert_eq!(
                    init_pull(state.as_mut_ptr(), header.as_ptr(), srx.as_ptr()),
                    0
                );
                for msg in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xA5; 100_000], b""] {
                    let sealed = sealer.seal(msg);
                    let mut out = vec![0u8; sealed.len()];
                    let (mut len, mut tag) = (0u64, 9u8);
                    let rc = pull(
                        state.as_mut_ptr(),
                        out.as_mut_ptr(),
                        &mut len,
                        &mut tag,
                        sealed.as_ptr(),
                        sealed.len() as u64,
                        std::ptr::null(),
                        0,
                    );
                    assert_eq!(rc, 0, "libsodium refused our message");
                    assert_eq!(tag, 0);
                    assert_eq!(&out[..len as usize], msg);
                }

                // libsodium pushes → our stream.
                let mut state = [0u8; STATE_BYTES];
                let mut hdr = [0u8; HEADER_BYTES];
                assert_eq!(
                    init_push(state.as_mut_ptr(), hdr.as_mut_ptr(), stx.as_ptr()),
                    0
                );
                let mut opener = Opener::new(&ours.rx);
                assert_eq!(opener.open(hdr.to_vec()).unwrap(), Opened::Header);
                for (msg, tag) in [
                    (&b"HTTP/1.1 200 OK\r\n\r\n"[..], 0u8),
                    (&[0x5A; 65_536], 0),
                    (b"bye", 3),
                ] {
                    let mut out = vec![0u8; msg.len() + OVERHEAD];
                    let mut len = 0u64;
                    assert_eq!(
                        push(
                            state.as_mut_ptr(),
                            out.as_mut_ptr(),
                            &mut len,
                            msg.as_ptr(),
                            msg.len() as u64,
                            std::ptr::null(),
                            0,
                            tag
                        ),
                        0
                    );
                    out.truncate(len as usize);
                    let expect = if tag == 3 {
                        Opened::Final(msg.to_vec())
                    } else {
                        Opened::Message(msg.to_vec())
                    };
                    assert_eq!(opener.open(out).unwrap(), expect);
                }
            }
        }
    }
}

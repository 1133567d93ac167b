//! The server's secrets: host tokens that a restarted server can still
//! recognise, one-time secrets (tickets, ids), and the peer ids derived
//! from players' seat secrets.
//!
//! A host token is `nonce . MAC(room key, code, nonce)`, in hex. While the
//! room lives the server compares it with the one it handed out; after a
//! restart (the rooms were in memory) it recomputes the MAC, so the room's
//! host, and only it, can open the room again under the same code
//! ([`RoomKey::verify`]). The room key comes from the operator
//! (`--room-secret`), or is drawn at start, in which case rooms cannot
//! outlive the process.

use hmac::{Hmac, Mac};
use matchbox_protocol::PeerId;
use sha2::{Digest, Sha256};

/// Bytes of randomness in a one-time secret: 128 bits, far beyond guessing.
const SECRET_BYTES: usize = 16;

/// Bytes of a host token's nonce, and of its MAC (truncated HMAC-SHA256).
const NONCE_BYTES: usize = 16;
const MAC_BYTES: usize = 16;

/// Draws a new secret from the operating system's CSPRNG, as 32 lower-case
/// hex characters (safe in a URL query without escaping).
pub(crate) fn generate() -> Result<String, getrandom::Error> {
    random_hex::<SECRET_BYTES>()
}

fn random_hex<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares a presented secret with the expected one, in time that does not
/// depend on where they first differ, so response timing leaks nothing.
pub(crate) fn matches(presented: &str, expected: &str) -> bool {
    let (presented, expected) = (presented.as_bytes(), expected.as_bytes());
    if presented.len() != expected.len() {
        // Every kind of secret has one public length: this exit leaks nothing.
        return false;
    }
    presented
        .iter()
        .zip(expected)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// The key host tokens are made with.
#[derive(Clone)]
pub(crate) struct RoomKey(Vec<u8>);

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(..)")
    }
}

impl RoomKey {
    /// The operator's secret, or a fresh random one.
    pub(crate) fn new(secret: Option<&str>) -> Result<Self, getrandom::Error> {
        match secret {
            Some(secret) => Ok(Self(secret.as_bytes().to_vec())),
            None => Ok(Self(random_hex::<32>()?.into_bytes())),
        }
    }

    fn mac(&self, code: &str, nonce: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        // The parts are fixed-length or separated: no two (code, nonce)
        // pairs make the same message.
        mac.update(b"bevy-p2p host token v1\0");
        mac.update(code.as_bytes());
        mac.update(b"\0");
        mac.update(nonce.as_bytes());
        hex(&mac.finalize().into_bytes()[..MAC_BYTES])
    }

    /// A new host token for room `code` (canonical).
    pub(crate) fn issue(&self, code: &str) -> Result<String, getrandom::Error> {
        let nonce = random_hex::<NONCE_BYTES>()?;
        let mac = self.mac(code, &nonce);
        Ok(format!("{nonce}.{mac}"))
    }

    /// Whether `token` was issued for room `code` under this key.
    pub(crate) fn verify(&self, code: &str, token: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else {
            return false;
        };
        nonce.len() == 2 * NONCE_BYTES && matches(mac, &self.mac(code, nonce))
    }
}

/// Room `code` and the seat secret `seat` as a request gave them: the
/// canonical code, and the peer id of the player holding that seat in it.
/// A refusal is what the request is told (`invalid_code`, or `bad_request`
/// for the secret).
pub(crate) fn seat_peer(
    code: &str,
    seat: &str,
) -> Result<(String, PeerId), bevy_p2p_protocol::ErrorCode> {
    let canonical = crate::code::normalize(code)?;
    let peer = seat_peer_id(&canonical, seat)
        .map_err(|BadSeat| bevy_p2p_protocol::ErrorCode::BadRequest)?;
    Ok((canonical, peer))
}

/// Why a seat secret is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadSeat;

/// The peer id of the player holding `seat` in room `code` (canonical):
/// the same on every server, and no use to anyone without the secret (it
/// is a hash of it).
pub(crate) fn seat_peer_id(code: &str, seat: &str) -> Result<PeerId, BadSeat> {
    let valid = (16..=128).contains(&seat.len())
        && seat
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'));
    if !valid {
        return Err(BadSeat);
    }
    let digest = Sha256::new()
        .chain_update(b"bevy-p2p seat v1\0")
        .chain_update(code.as_bytes())
        .chain_update(b"\0")
        .chain_update(seat.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(PeerId(uuid::Builder::from_custom_bytes(bytes).into_uuid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_32_hex_and_distinct() {
        let a = generate().expect("the OS CSPRNG works");
        let b = generate().expect("the OS CSPRNG works");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn matches_only_the_same_secret() {
        assert!(matches("00ff", "00ff"));
        assert!(!matches("00fe", "00ff"));
        assert!(!matches("00f", "00ff"));
        assert!(!matches("", "00ff"));
    }

    #[test]
    fn a_host_token_is_recognised_by_its_key_for_its_room_only() {
        let key = RoomKey::new(Some("operator secret")).expect("key");
        let token = key.issue("ABC234").expect("token");
        assert_ne!(token, key.issue("ABC234").expect("token"), "fresh nonces");
        // A restarted server with the same secret recognises it.
        let restarted = RoomKey::new(Some("operator secret")).expect("key");
        assert!(restarted.verify("ABC234", &token));
        assert!(!restarted.verify("ABC235", &token));
        assert!(
            !RoomKey::new(Some("another"))
                .expect("key")
                .verify("ABC234", &token)
        );
        assert!(!RoomKey::new(None).expect("key").verify("ABC234", &token));
        let (nonce, mac) = token.split_once('.').expect("nonce.mac");
        for forged in [
            format!("{nonce}.{}", "0".repeat(mac.len())),
            format!("{}.{mac}", "0".repeat(nonce.len())),
            format!("{nonce}{mac}"),
            format!("{nonce}.{mac}0"),
            String::new(),
            ".".into(),
        ] {
            assert!(!restarted.verify("ABC234", &forged), "{forged}");
        }
    }

    #[test]
    fn a_seat_secret_gives_one_peer_id_per_room() {
        let seat = "a-seat-secret_0123456789";
        let id = seat_peer_id("ABC234", seat).expect("valid");
        assert_eq!(seat_peer_id("ABC234", seat), Ok(id));
        assert_ne!(seat_peer_id("ABC235", seat), Ok(id));
        assert_ne!(seat_peer_id("ABC234", "b-seat-secret_0123456789"), Ok(id));
        for bad in [
            "short",
            &"x".repeat(129),
            "with space in it 12345",
            "ümlaut-0123456789ab",
        ] {
            assert_eq!(seat_peer_id("ABC234", bad), Err(BadSeat), "{bad}");
        }
    }
}

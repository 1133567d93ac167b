//! Share codes: the 6 characters players type or send to meet in a room.
//!
//! The rules (alphabet, length, parsing) are the protocol crate's, shared with
//! the plugin; this module adds the drawing. Codes come from the operating
//! system's CSPRNG so that nobody can predict the next room's code from the
//! ones they have seen.

pub use bevy_p2p_protocol::code::{ALPHABET, InvalidCode, LENGTH, is_canonical};

/// Turns what a player typed into the canonical code.
///
/// Forgiving on purpose: surrounding whitespace is trimmed and lower case is
/// accepted. Anything else (inner spaces, look-alikes such as `O` for `0`, a
/// wrong length) is [`InvalidCode`]: guessing what was meant could put a
/// player into a stranger's room.
///
/// ```
/// use bevy_p2p_signaling::code;
/// assert_eq!(code::normalize(" abc234\n").as_deref(), Ok("ABC234"));
/// assert!(code::normalize("ABC10O").is_err());
/// ```
pub fn normalize(input: &str) -> Result<String, InvalidCode> {
    input
        .parse::<bevy_p2p_protocol::ShareCode>()
        .map(String::from)
}

/// Draws a fresh random code from the operating system's CSPRNG.
///
/// Uniqueness among live rooms is the room registry's job, not this function's.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; LENGTH];
    getrandom::fill(&mut bytes)?;
    let alphabet = ALPHABET.as_bytes();
    Ok(bytes
        .iter()
        .map(|byte| char::from(alphabet[usize::from(byte & 0x1f)]))
        .collect())
}

/// A code as logs show it: a tag that tells one room's lines from
/// another's within this run of the server, and says nothing of the code.
///
/// Logs travel (to log services, into bug reports); a code in them is a
/// seat in a stranger's game. The tag is a keyed hash, keyed afresh each
/// time the server starts.
pub fn redacted(code: &str) -> Redacted {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(std::hash::RandomState::new);
    // Tag what the registry would store, so `abc234` and `ABC234` match.
    let canonical = normalize(code);
    let tag = key.hash_one(canonical.as_deref().unwrap_or(code));
    Redacted(tag)
}

/// See [`redacted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redacted(u64);

impl std::fmt::Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "room#{:08x}", self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_tell_rooms_apart_without_their_codes() {
        let tag = redacted("ABC234").to_string();
        assert!(tag.starts_with("room#") && tag.len() == 13, "{tag}");
        assert!(!tag.contains("ABC234"));
        assert_eq!(tag, redacted(" abc234").to_string());
        assert_ne!(redacted("ABC234"), redacted("ABC235"));
    }

    #[test]
    fn generated_codes_are_canonical_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200)
            .map(|_| generate().expect("the OS CSPRNG works"))
            .collect();
        assert!(codes.iter().all(|code| is_canonical(code)));
        // 200 draws from 2^30 codes: a repeat would mean a broken generator.
        assert_eq!(codes.len(), 200);
    }
}

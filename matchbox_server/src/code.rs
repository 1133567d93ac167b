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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Share codes: the 6 characters players type or send to meet in a room.
//!
//! The alphabet leaves out `I`, `O`, `0` and `1`, which people misread. Codes are
//! drawn from the operating system's CSPRNG so that nobody can predict the next
//! room's code from the ones they have seen.

use std::fmt;

/// The characters a share code is made of, in the order used to draw them.
///
/// 32 characters, so one random byte masked to 5 bits picks one without bias.
pub const ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// How many characters a share code has.
pub const LENGTH: usize = 6;

/// The input is not a share code: wrong length or a character outside [`ALPHABET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidCode;

impl fmt::Display for InvalidCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a share code is {LENGTH} characters from {ALPHABET} (case does not matter)"
        )
    }
}

impl std::error::Error for InvalidCode {}

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
    let code = input.trim().to_ascii_uppercase();
    if is_canonical(&code) {
        Ok(code)
    } else {
        Err(InvalidCode)
    }
}

/// Whether `code` is already canonical: exactly [`LENGTH`] characters of [`ALPHABET`].
pub fn is_canonical(code: &str) -> bool {
    code.len() == LENGTH && code.bytes().all(|byte| ALPHABET.as_bytes().contains(&byte))
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
    fn alphabet_has_32_unambiguous_characters() {
        assert_eq!(ALPHABET.len(), 32);
        for look_alike in ['I', 'O', '0', '1'] {
            assert!(!ALPHABET.contains(look_alike));
        }
    }

    #[test]
    fn normalize_trims_and_upper_cases() {
        assert_eq!(normalize("ABC234"), Ok("ABC234".to_owned()));
        assert_eq!(normalize("abc234"), Ok("ABC234".to_owned()));
        assert_eq!(normalize("  xyZ789\t\n"), Ok("XYZ789".to_owned()));
    }

    #[test]
    fn normalize_refuses_everything_else() {
        for bad in [
            "", "ABC23", "ABC2345", "ABC 23", "ABC1O0", "ABCI23", "ABC-23", "ÄBC234", "ABC23é",
        ] {
            assert_eq!(normalize(bad), Err(InvalidCode), "{bad:?}");
        }
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

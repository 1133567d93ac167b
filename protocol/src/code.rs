//! Share codes: the 6 characters players read to each other to meet in a room.

use core::fmt;

/// The characters a share code is made of, in the order the server draws
/// them: no `I`, `O`, `0` or `1`, which players misread when they say a code
/// aloud or copy it by hand. 32 characters, so one random byte masked to 5
/// bits picks one without bias.
pub const ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// How many characters a share code has.
pub const LENGTH: usize = 6;

/// Whether `code` is already canonical: exactly [`LENGTH`] characters of
/// [`ALPHABET`], upper case.
pub fn is_canonical(code: &str) -> bool {
    code.len() == LENGTH && code.bytes().all(|byte| ALPHABET.as_bytes().contains(&byte))
}

/// A well-formed share code, canonical (upper case).
///
/// Parsing is forgiving the way players type: surrounding whitespace is
/// trimmed and lower case accepted. Anything else (inner spaces, look-alikes
/// such as `O` for `0`, a wrong length) is [`InvalidCode`]: guessing what was
/// meant could put a player into a stranger's room.
///
/// ```
/// use bevy_p2p_protocol::ShareCode;
/// let code: ShareCode = " abc234\n".parse().unwrap();
/// assert_eq!(code.as_str(), "ABC234");
/// assert!("ABC10O".parse::<ShareCode>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ShareCode(String);

impl ShareCode {
    /// The code as text: [`LENGTH`] upper-case characters of [`ALPHABET`].
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShareCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ShareCode> for String {
    fn from(code: ShareCode) -> Self {
        code.0
    }
}

impl core::str::FromStr for ShareCode {
    type Err = InvalidCode;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let code = input.trim().to_ascii_uppercase();
        if is_canonical(&code) {
            Ok(Self(code))
        } else {
            Err(InvalidCode)
        }
    }
}

/// The text is not a share code: wrong length or a character outside
/// [`ALPHABET`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InvalidCode;

impl fmt::Display for InvalidCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a share code is {LENGTH} characters from {ALPHABET} (case does not matter)"
        )
    }
}

impl core::error::Error for InvalidCode {}

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
    fn parsing_trims_and_upper_cases() {
        for (typed, code) in [
            ("ABC234", "ABC234"),
            ("abc234", "ABC234"),
            ("  xyZ789\t\n", "XYZ789"),
        ] {
            assert_eq!(
                typed.parse::<ShareCode>().map(String::from),
                Ok(code.into())
            );
        }
    }

    #[test]
    fn parsing_refuses_everything_else() {
        for bad in [
            "", "ABC23", "ABC2345", "ABC 23", "ABC1O0", "ABCI23", "ABC-23", "ÄBC234", "ABC23é",
        ] {
            assert_eq!(bad.parse::<ShareCode>(), Err(InvalidCode), "{bad:?}");
        }
    }
}

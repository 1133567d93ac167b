//! Share codes: the six characters players read to each other.

use core::fmt;

/// The characters a share code is made of: no `I`, `O`, `0` or `1`, which
/// players confuse when they read a code aloud or copy it by hand.
pub const ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// How many characters a share code has.
pub const LENGTH: usize = 6;

/// A well-formed share code, upper case.
///
/// Parsing is forgiving the way players type: surrounding whitespace is
/// trimmed and lower case accepted.
///
/// ```
/// # use bevy_p2p_multiplayer::prelude::*;
/// let code: ShareCode = " abc234 ".parse().unwrap();
/// assert_eq!(code.as_str(), "ABC234");
/// assert!("ABC10".parse::<ShareCode>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ShareCode(String);

impl ShareCode {
    /// The code as text, always six upper-case characters of [`ALPHABET`].
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShareCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A share code that is not six characters of [`ALPHABET`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InvalidCode;

impl fmt::Display for InvalidCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a game code is {LENGTH} letters and digits")
    }
}

impl core::error::Error for InvalidCode {}

impl core::str::FromStr for ShareCode {
    type Err = InvalidCode;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let code = input.trim().to_ascii_uppercase();
        let well_formed =
            code.chars().count() == LENGTH && code.chars().all(|c| ALPHABET.contains(c));
        if well_formed {
            Ok(Self(code))
        } else {
            Err(InvalidCode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_trimmed_lower_case() {
        assert_eq!(
            "\tq2w3e4\n".parse::<ShareCode>().unwrap().as_str(),
            "Q2W3E4"
        );
    }

    #[test]
    fn refuses_confusable_and_wrong_length() {
        for bad in [
            "", "ABCDE", "ABCDEFG", "ABCDE0", "ABCDE1", "ABCDEI", "ABCDEO", "ABC DE", "ÄBCDEF",
        ] {
            assert_eq!(bad.parse::<ShareCode>(), Err(InvalidCode), "{bad:?}");
        }
    }

    #[test]
    fn alphabet_has_no_confusable_characters() {
        assert_eq!(ALPHABET.len(), 32);
        for c in ['I', 'O', '0', '1'] {
            assert!(!ALPHABET.contains(c));
        }
    }
}

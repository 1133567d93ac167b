//! Host tokens: the secret that proves a websocket may take a room's host seat.

/// Bytes of randomness in a host token: 128 bits, far beyond guessing.
const TOKEN_BYTES: usize = 16;

/// Draws a new host token from the operating system's CSPRNG, as 32 lower-case
/// hex characters (safe in a URL query without escaping).
pub(crate) fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Compares a presented token with the room's, in time that does not depend on
/// where they first differ, so response timing leaks nothing about the secret.
pub(crate) fn matches(presented: &str, expected: &str) -> bool {
    let (presented, expected) = (presented.as_bytes(), expected.as_bytes());
    if presented.len() != expected.len() {
        // The length of a token is public (always 32), so this early exit leaks nothing.
        return false;
    }
    presented
        .iter()
        .zip(expected)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_hex_and_distinct() {
        let a = generate().expect("the OS CSPRNG works");
        let b = generate().expect("the OS CSPRNG works");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn matches_only_the_same_token() {
        assert!(matches("00ff", "00ff"));
        assert!(!matches("00fe", "00ff"));
        assert!(!matches("00f", "00ff"));
        assert!(!matches("", "00ff"));
    }
}

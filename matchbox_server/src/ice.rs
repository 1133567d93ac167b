//! The STUN and TURN servers handed to players, with TURN credentials that
//! expire, in coturn's shared-secret scheme (`use-auth-secret`, the "TURN
//! REST API"): the username is `<expiry unix time>:<id>` and the password
//! `base64(HMAC-SHA1(secret, username))`. coturn, holding the same secret,
//! recomputes the password and refuses the username once its time has
//! passed, so the secret itself never leaves this server.
//!
//! Pure: the caller passes the clock and the id.

use base64::{Engine, engine::general_purpose::STANDARD};
use bevy_p2p_protocol::{IceConfig, IceServerConfig};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::{fmt, time::Duration};

/// The ICE servers an operator configured. [`Default`]: none at all, so
/// players connect only on addresses of their own networks.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct IceSettings {
    /// `stun:` or `stuns:` URLs, handed out as they are.
    pub stun: Vec<String>,
    /// `turn:` or `turns:` URLs of one TURN service (coturn) sharing
    /// [`Self::turn_secret`]; each player gets one credential for all.
    pub turn: Vec<String>,
    /// coturn's `static-auth-secret`. Required with [`Self::turn`].
    pub turn_secret: Option<String>,
    /// How long a handed-out TURN credential is accepted. A connection
    /// made with it lives on, but coturn checks the credential again when
    /// the allocation is refreshed, so this should outlast a game session.
    pub credential_lifetime: Duration,
}

/// The default of [`IceSettings::credential_lifetime`]: a day.
pub const DEFAULT_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

// The secret must not end up in logs through `{:?}`.
impl fmt::Debug for IceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceSettings")
            .field("stun", &self.stun)
            .field("turn", &self.turn)
            .field(
                "turn_secret",
                &self.turn_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("credential_lifetime", &self.credential_lifetime)
            .finish()
    }
}

/// Why a set of ICE settings cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceSettingsError {
    /// A URL with the wrong scheme for its list.
    Url {
        /// The URL as given.
        url: String,
        /// What the list takes.
        expected: &'static str,
    },
    /// TURN URLs but no secret to make credentials with.
    TurnWithoutSecret,
    /// A secret but no TURN URL to use it for.
    SecretWithoutTurn,
    /// An empty secret: anyone could forge credentials.
    EmptySecret,
    /// A zero credential lifetime: every credential would be dead on arrival.
    ZeroLifetime,
}

impl fmt::Display for IceSettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url { url, expected } => write!(f, "`{url}` is not a {expected} URL"),
            Self::TurnWithoutSecret => f.write_str(
                "TURN servers need the secret they share with this server (--turn-secret)",
            ),
            Self::SecretWithoutTurn => f.write_str("a TURN secret is set but no TURN server"),
            Self::EmptySecret => f.write_str("the TURN secret is empty"),
            Self::ZeroLifetime => f.write_str("the TURN credential lifetime must not be zero"),
        }
    }
}

impl std::error::Error for IceSettingsError {}

impl IceSettings {
    /// Checks the settings the server cannot serve.
    pub fn validate(&self) -> Result<(), IceSettingsError> {
        let check = |urls: &[String], schemes: [&str; 2], expected| {
            urls.iter()
                .find(|url| !schemes.iter().any(|scheme| has_scheme(url, scheme)))
                .map_or(Ok(()), |url| {
                    Err(IceSettingsError::Url {
                        url: url.clone(),
                        expected,
                    })
                })
        };
        check(&self.stun, ["stun", "stuns"], "STUN (stun: or stuns:)")?;
        check(&self.turn, ["turn", "turns"], "TURN (turn: or turns:)")?;
        match (&self.turn_secret, self.turn.is_empty()) {
            (None, false) => return Err(IceSettingsError::TurnWithoutSecret),
            (Some(_), true) => return Err(IceSettingsError::SecretWithoutTurn),
            (Some(secret), false) if secret.is_empty() => {
                return Err(IceSettingsError::EmptySecret);
            }
            _ => {}
        }
        if self.credential_lifetime.is_zero() && !self.turn.is_empty() {
            return Err(IceSettingsError::ZeroLifetime);
        }
        Ok(())
    }

    /// What one player is handed at `now_unix` (seconds since 1970), its
    /// TURN username naming `id`.
    pub fn answer(&self, now_unix: u64, id: &str) -> IceConfig {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServerConfig {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        let mut expires_in_secs = None;
        if let (Some(secret), false) = (&self.turn_secret, self.turn.is_empty()) {
            let lifetime = self.credential_lifetime.as_secs().max(1);
            let (username, credential) = turn_credential(secret, now_unix + lifetime, id);
            servers.push(IceServerConfig {
                urls: self.turn.clone(),
                username: Some(username),
                credential: Some(credential),
            });
            expires_in_secs = Some(lifetime);
        }
        IceConfig {
            servers,
            expires_in_secs,
        }
    }
}

fn has_scheme(url: &str, scheme: &str) -> bool {
    url.strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| !rest.is_empty())
}

/// coturn's shared-secret credential valid until `expiry_unix`: the
/// username `<expiry>:<id>` and its password.
pub fn turn_credential(secret: &str, expiry_unix: u64, id: &str) -> (String, String) {
    let username = format!("{expiry_unix}:{id}");
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    let password = STANDARD.encode(mac.finalize().into_bytes());
    (username, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn_settings() -> IceSettings {
        IceSettings {
            stun: vec!["stun:198.51.100.1:3478".into()],
            turn: vec![
                "turn:198.51.100.1:3478?transport=udp".into(),
                "turns:turn.example.com:443?transport=tcp".into(),
            ],
            turn_secret: Some("north-wind".into()),
            credential_lifetime: Duration::from_secs(600),
        }
    }

    #[test]
    fn the_password_is_coturns_hmac() {
        // Python: base64.b64encode(hmac.new(b'north-wind', b'1767225600:player',
        // hashlib.sha1).digest())
        assert_eq!(
            turn_credential("north-wind", 1_767_225_600, "player"),
            (
                "1767225600:player".to_owned(),
                "I+XZBHaHh8Wj+dbQZgu2SAPHei8=".to_owned()
            )
        );
    }

    #[test]
    fn a_player_gets_stun_and_a_turn_credential_that_expires() {
        let answer = turn_settings().answer(1_000, "abc");
        assert_eq!(answer.expires_in_secs, Some(600));
        assert_eq!(answer.servers.len(), 2);
        assert_eq!(answer.servers[0].urls, ["stun:198.51.100.1:3478"]);
        assert_eq!(answer.servers[0].username, None);
        let turn = &answer.servers[1];
        assert_eq!(turn.urls.len(), 2);
        assert_eq!(turn.username.as_deref(), Some("1600:abc"));
        assert_eq!(
            turn.credential,
            Some(turn_credential("north-wind", 1_600, "abc").1)
        );
        // Nothing in the answer is the secret.
        let json = serde_json::to_string(&answer).expect("serializes");
        assert!(!json.contains("north-wind"), "{json}");
    }

    #[test]
    fn no_servers_is_an_empty_answer() {
        assert_eq!(IceSettings::default().validate(), Ok(()));
        assert_eq!(IceSettings::default().answer(5, "x"), IceConfig::default());
    }

    #[test]
    fn bad_settings_are_refused() {
        let base = turn_settings();
        for (settings, error) in [
            (
                IceSettings {
                    stun: vec!["turn:x:1".into()],
                    ..base.clone()
                },
                "`turn:x:1` is not a STUN",
            ),
            (
                IceSettings {
                    turn: vec!["http://x".into()],
                    ..base.clone()
                },
                "`http://x` is not a TURN",
            ),
            (
                IceSettings {
                    stun: vec!["stun:".into()],
                    ..base.clone()
                },
                "`stun:` is not a STUN",
            ),
            (
                IceSettings {
                    turn_secret: None,
                    ..base.clone()
                },
                "TURN servers need the secret",
            ),
            (
                IceSettings {
                    turn: Vec::new(),
                    ..base.clone()
                },
                "no TURN server",
            ),
            (
                IceSettings {
                    turn_secret: Some(String::new()),
                    ..base.clone()
                },
                "secret is empty",
            ),
            (
                IceSettings {
                    credential_lifetime: Duration::ZERO,
                    ..base.clone()
                },
                "must not be zero",
            ),
        ] {
            let refused = settings.validate().expect_err("refused").to_string();
            assert!(refused.contains(error), "{refused}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", turn_settings());
        assert!(!shown.contains("north-wind"), "{shown}");
    }
}

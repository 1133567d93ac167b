//! Rate limits and connection counters, with no sockets and no clock in sight.
//!
//! The I/O layer asks these before doing work for a stranger and refuses
//! whoever sends too much. Everything is plain data driven by explicit `now`
//! instants (as in [`crate::rooms`]), so the limits are unit-tested without
//! sleeping. Per-address limits are counted under [`client_key`].

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    time::{Duration, Instant},
};

/// The longest Retry-After given: a bucket that never refills has no honest
/// answer, and a client told "an hour" comes back as a new session anyway.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_hours(1);

/// How often a full stranger table may be pruned, and the Retry-After of a
/// stranger refused because the table is full. Pruning walks every key, so
/// without this a flood of new addresses would cost a full walk per request.
pub(crate) const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// Slack in token arithmetic, so that a caller who waits exactly the
/// Retry-After it was given finds its token despite float rounding.
const EPSILON: f64 = 1e-9;

/// A token bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per minute, continuously; 0 means the bucket never refills.
    pub per_minute: u32,
    /// Tokens the bucket holds at most (the burst); 0 refuses everything.
    pub burst: u32,
}

impl Rate {
    /// `n` tokens per second, holding at most `burst`.
    #[must_use]
    pub const fn per_second(n: u32, burst: u32) -> Self {
        Self {
            per_minute: n.saturating_mul(60),
            burst,
        }
    }

    /// Refuses a rate that would refuse every request; `name` is the
    /// setting's name, for the startup error.
    pub(crate) fn validate(self, name: &str) -> Result<(), String> {
        if self.burst == 0 {
            return Err(format!(
                "{name}: the burst must be at least 1 (0 would refuse every request)"
            ));
        }
        Ok(())
    }

    fn per_second_f64(self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }
}

/// As flags write it: `20/s:100` (20 a second, bursts of 100) or
/// `30/min` (30 a minute, bursts of 30: without `:BURST`, one unit's worth).
impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("{raw:?} is not a rate: write N/s or N/min, then :BURST if wanted (20/s:100)")
        };
        let (rate, burst) = raw
            .trim()
            .split_once(':')
            .map_or((raw.trim(), None), |(r, b)| (r, Some(b)));
        let (count, unit) = rate.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per_minute = match unit.trim() {
            "s" | "sec" => count.checked_mul(60).ok_or_else(bad)?,
            "min" => count,
            _ => return Err(bad()),
        };
        let burst = match burst {
            Some(burst) => burst.trim().parse().map_err(|_| bad())?,
            None => count,
        };
        let rate = Self { per_minute, burst };
        rate.validate("rate")?;
        Ok(rate)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.per_minute.is_multiple_of(60) && self.per_minute > 0 {
            write!(f, "{}/s:{}", self.per_minute / 60, self.burst)
        } else {
            write!(f, "{}/min:{}", self.per_minute, self.burst)
        }
    }
}

/// A token bucket. It does not store its rate, so one rate serves many buckets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    tokens: f64,
    /// When `tokens` was last brought up to date; never moves backwards.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            last: now,
        }
    }

    /// Tokens at `now`: refill is continuous, capped at the burst. A `now`
    /// earlier than `last` (instants taken on other threads) counts as no time.
    fn level(&self, rate: Rate, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * rate.per_second_f64()).min(f64::from(rate.burst))
    }

    /// How long until a bucket at `level` holds a whole token.
    fn wait(level: f64, rate: Rate) -> Duration {
        if rate.per_minute == 0 || rate.burst == 0 {
            return MAX_RETRY_AFTER;
        }
        let secs = (1.0 - level) / rate.per_second_f64();
        Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER))
    }

    /// Takes one token, or says how long until one is there (the Retry-After).
    pub(crate) fn try_take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let level = self.level(rate, now);
        self.tokens = level;
        self.last = self.last.max(now);
        if level >= 1.0 - EPSILON {
            self.tokens = (level - 1.0).max(0.0);
            Ok(())
        } else {
            Err(Self::wait(level, rate))
        }
    }

    /// Peeks without taking: the Retry-After when there is no whole token.
    pub(crate) fn is_empty(&self, rate: Rate, now: Instant) -> Option<Duration> {
        let level = self.level(rate, now);
        (level < 1.0 - EPSILON).then(|| Self::wait(level, rate))
    }

    /// Whether the bucket is full again, i.e. the same as a fresh one.
    pub(crate) fn is_full(&self, rate: Rate, now: Instant) -> bool {
        self.level(rate, now) >= f64::from(rate.burst) - EPSILON
    }
}

/// The key per-address limits are counted under.
///
/// IPv4 as is; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
/// dual-stack socket reports) as its IPv4; any other IPv6 address masked to
/// its /64. One home or one cloud machine gets a whole /64, so counting
/// single IPv6 addresses would let one attacker be 2^64 strangers.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// The wider tier an IPv6 client is also counted under: its /48, what one
/// site (a business, a cloud account) is commonly given, and more than a
/// home's /56. `None` for IPv4 (and IPv4-mapped) addresses.
pub(crate) fn site_key(ip: IpAddr) -> Option<IpAddr> {
    match client_key(ip) {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => Some(IpAddr::V6(Ipv6Addr::from(
            u128::from(v6) & !(u128::MAX >> 48),
        ))),
    }
}

/// Whose budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// This key's own (one address, one /64).
    Key,
    /// An IPv6 site's together (one /48, see [`site_key`]).
    Site,
    /// Everyone's together: a flood from many keys.
    Global,
}

/// What a full stranger table answers a new key (see [`PRUNE_INTERVAL`]).
pub(crate) const TABLE_FULL: Refused = Refused {
    retry_after: PRUNE_INTERVAL,
    scope: Scope::Global,
};

/// A refused request: who ran out and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    /// How long until a retry can succeed (the Retry-After).
    pub retry_after: Duration,
    /// Whose budget ran out.
    pub scope: Scope,
}

/// A token bucket per key plus one global bucket, in bounded memory.
///
/// Keys are stored lazily: an absent key has a full bucket, so a key whose
/// bucket is full again is dropped by [`KeyedLimiter::prune`] and the table
/// only holds strangers who spent something recently.
#[derive(Debug)]
pub(crate) struct KeyedLimiter<K> {
    per_key: Rate,
    global_rate: Rate,
    max_keys: usize,
    buckets: HashMap<K, TokenBucket>,
    global: TokenBucket,
    pruned_at: Option<Instant>,
}

impl<K: Eq + Hash + Copy> KeyedLimiter<K> {
    /// Full buckets for everyone, at most `max_keys` keys remembered at once.
    pub(crate) fn new(per_key: Rate, global: Rate, max_keys: usize, now: Instant) -> Self {
        Self {
            per_key,
            global_rate: global,
            max_keys,
            buckets: HashMap::new(),
            global: TokenBucket::new(global, now),
            pruned_at: None,
        }
    }

    /// Takes a token from `key`'s bucket and the global one, or from neither:
    /// a refused request spends nothing, so a refused flood cannot keep the
    /// global budget (or its victim's key) empty.
    pub(crate) fn try_take(&mut self, key: K, now: Instant) -> Result<(), Refused> {
        let mut bucket = self.bucket(key, now);
        self.peek(&bucket, now)?;
        if !self.buckets.contains_key(&key) && !self.make_room(now) {
            return Err(TABLE_FULL);
        }
        // Both peeks passed, so both takes succeed.
        let _ = bucket.try_take(self.per_key, now);
        let _ = self.global.try_take(self.global_rate, now);
        self.buckets.insert(key, bucket);
        Ok(())
    }

    /// Peeks only. Failed lookups use this pair: any lookup is refused while
    /// the budget is empty, but only a failed one [`spend`](Self::spend)s, so
    /// the refusal never tells an attacker a hit from a miss.
    ///
    /// An absent key passes even when the table is full: this only reads, so
    /// it cannot prune, and refusing there could refuse every newcomer forever.
    pub(crate) fn check(&self, key: K, now: Instant) -> Result<(), Refused> {
        self.peek(&self.bucket(key, now), now)
    }

    /// Takes a token from `key`'s bucket and from the global one, each if
    /// there is one (after a failed lookup). When the table is full of live
    /// strangers the key cannot be remembered and only the global bucket pays.
    pub(crate) fn spend(&mut self, key: K, now: Instant) {
        let _ = self.global.try_take(self.global_rate, now);
        let mut bucket = self.bucket(key, now);
        if bucket.try_take(self.per_key, now).is_ok()
            && (self.buckets.contains_key(&key) || self.make_room(now))
        {
            self.buckets.insert(key, bucket);
        }
    }

    /// Forgets every key whose bucket is full again (the same as absent).
    pub(crate) fn prune(&mut self, now: Instant) {
        let rate = self.per_key;
        self.buckets.retain(|_, bucket| !bucket.is_full(rate, now));
        self.pruned_at = Some(now);
    }

    /// Keys remembered now, for tests and metrics.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn bucket(&self, key: K, now: Instant) -> TokenBucket {
        self.buckets
            .get(&key)
            .copied()
            .unwrap_or_else(|| TokenBucket::new(self.per_key, now))
    }

    /// The key's bucket first, so one noisy address hears about its own limit.
    fn peek(&self, bucket: &TokenBucket, now: Instant) -> Result<(), Refused> {
        if let Some(retry_after) = bucket.is_empty(self.per_key, now) {
            return Err(Refused {
                retry_after,
                scope: Scope::Key,
            });
        }
        if let Some(retry_after) = self.global.is_empty(self.global_rate, now) {
            return Err(Refused {
                retry_after,
                scope: Scope::Global,
            });
        }
        Ok(())
    }

    /// Whether a new key fits, pruning (at most once per [`PRUNE_INTERVAL`]) when full.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.buckets.len() < self.max_keys {
            return true;
        }
        let due = self
            .pruned_at
            .is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_INTERVAL);
        if due {
            self.prune(now);
        }
        self.buckets.len() < self.max_keys
    }
}

/// Open connections per key and in total, with a cap on each.
///
/// Unkeyed connections (a trusted proxy's, whose players are known only from
/// their requests' headers) count towards the total alone.
#[derive(Debug)]
pub(crate) struct ConnectionCounter<K> {
    per_key: usize,
    total: usize,
    /// Only keys with at least one open connection.
    open: HashMap<K, usize>,
    unkeyed: usize,
    open_total: usize,
}

impl<K: Eq + Hash + Copy> ConnectionCounter<K> {
    /// No connections open; at most `per_key` per key and `total` in all.
    pub(crate) fn new(per_key: usize, total: usize) -> Self {
        Self {
            per_key,
            total,
            open: HashMap::new(),
            unkeyed: 0,
            open_total: 0,
        }
    }

    /// Counts a new connection, or says which cap it would pass.
    pub(crate) fn try_open(&mut self, key: K) -> Result<(), Scope> {
        if self.open_for(key) >= self.per_key {
            return Err(Scope::Key);
        }
        if self.open_total >= self.total {
            return Err(Scope::Global);
        }
        *self.open.entry(key).or_default() += 1;
        self.open_total += 1;
        Ok(())
    }

    /// Counts a connection closed. Closing a key with nothing open does
    /// nothing, so a double close cannot free someone else's slot.
    pub(crate) fn close(&mut self, key: K) {
        let Some(count) = self.open.get_mut(&key) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.open.remove(&key);
        }
        self.open_total = self.open_total.saturating_sub(1);
    }

    /// Counts a new unkeyed connection, or refuses it at the total cap.
    pub(crate) fn try_open_unkeyed(&mut self) -> Result<(), Scope> {
        if self.open_total >= self.total {
            return Err(Scope::Global);
        }
        self.unkeyed += 1;
        self.open_total += 1;
        Ok(())
    }

    /// Counts an unkeyed connection closed; nothing if none is open.
    pub(crate) fn close_unkeyed(&mut self) {
        if self.unkeyed > 0 {
            self.unkeyed -= 1;
            self.open_total -= 1;
        }
    }

    /// Connections open in all.
    #[cfg(test)]
    pub(crate) fn open_total(&self) -> usize {
        self.open_total
    }

    /// Connections open for `key`.
    pub(crate) fn open_for(&self, key: K) -> usize {
        self.open.get(&key).copied().unwrap_or(0)
    }
}

/// A budget that never runs out, for a tier that has no global bucket.
const UNLIMITED: Rate = Rate {
    per_minute: u32::MAX,
    burst: u32::MAX,
};

/// `rate` times `factor`: an IPv6 site's share of a per-address rate.
fn scaled(rate: Rate, factor: u32) -> Rate {
    Rate {
        per_minute: rate.per_minute.saturating_mul(factor),
        burst: rate.burst.saturating_mul(factor),
    }
}

/// Per-address rate limits over client addresses, in two tiers: each
/// address (IPv6: its /64) has its own budget, and every IPv6 /48 has
/// `site_factor` times that, shared by all its /64s. Without the second
/// tier, the holder of a /56 (many homes) would be 256 strangers, and of a
/// /48 65,536.
#[derive(Debug)]
pub(crate) struct AddressLimiter {
    nets: KeyedLimiter<IpAddr>,
    sites: KeyedLimiter<IpAddr>,
}

impl AddressLimiter {
    /// Full budgets for everyone, at most `max_keys` addresses (and as many
    /// sites) remembered at once.
    pub(crate) fn new(
        per_address: Rate,
        global: Rate,
        site_factor: u32,
        max_keys: usize,
        now: Instant,
    ) -> Self {
        Self {
            nets: KeyedLimiter::new(per_address, global, max_keys, now),
            sites: KeyedLimiter::new(scaled(per_address, site_factor), UNLIMITED, max_keys, now),
        }
    }

    /// [`KeyedLimiter::try_take`] in both tiers: from all or from none.
    pub(crate) fn try_take(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refused> {
        let site = site_key(ip);
        if let Some(site) = site {
            self.sites.check(site, now).map_err(Refused::in_site)?;
        }
        self.nets.try_take(client_key(ip), now)?;
        if let Some(site) = site {
            // Checked above; a table full of live sites only loses this count.
            let _ = self.sites.try_take(site, now);
        }
        Ok(())
    }

    /// [`KeyedLimiter::check`] in both tiers.
    pub(crate) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Refused> {
        self.nets.check(client_key(ip), now)?;
        match site_key(ip) {
            Some(site) => self.sites.check(site, now).map_err(Refused::in_site),
            None => Ok(()),
        }
    }

    /// [`KeyedLimiter::spend`] in both tiers.
    pub(crate) fn spend(&mut self, ip: IpAddr, now: Instant) {
        self.nets.spend(client_key(ip), now);
        if let Some(site) = site_key(ip) {
            self.sites.spend(site, now);
        }
    }

    /// [`KeyedLimiter::prune`] in both tiers.
    pub(crate) fn prune(&mut self, now: Instant) {
        self.nets.prune(now);
        self.sites.prune(now);
    }
}

impl Refused {
    /// The same refusal, from a site's budget.
    fn in_site(self) -> Self {
        Self {
            scope: Scope::Site,
            ..self
        }
    }
}

/// Open connections per client address in the same two tiers as
/// [`AddressLimiter`] (`site_factor` times the per-address cap for an IPv6
/// /48), and in total.
#[derive(Debug)]
pub(crate) struct AddressCounter {
    nets: ConnectionCounter<IpAddr>,
    sites: ConnectionCounter<IpAddr>,
}

impl AddressCounter {
    /// Nothing open; at most `per_address` per address, `total` in all.
    pub(crate) fn new(per_address: usize, total: usize, site_factor: u32) -> Self {
        let per_site =
            per_address.saturating_mul(usize::try_from(site_factor).unwrap_or(usize::MAX));
        Self {
            nets: ConnectionCounter::new(per_address, total),
            sites: ConnectionCounter::new(per_site, usize::MAX),
        }
    }

    /// Counts a connection from `ip`, or says which cap it would pass.
    pub(crate) fn try_open(&mut self, ip: IpAddr) -> Result<(), Scope> {
        let net = client_key(ip);
        self.nets.try_open(net)?;
        if let Some(site) = site_key(ip)
            && self.sites.try_open(site).is_err()
        {
            self.nets.close(net);
            return Err(Scope::Site);
        }
        Ok(())
    }

    /// Counts a connection from `ip` closed.
    pub(crate) fn close(&mut self, ip: IpAddr) {
        self.nets.close(client_key(ip));
        if let Some(site) = site_key(ip) {
            self.sites.close(site);
        }
    }

    /// [`ConnectionCounter::try_open_unkeyed`].
    pub(crate) fn try_open_unkeyed(&mut self) -> Result<(), Scope> {
        self.nets.try_open_unkeyed()
    }

    /// [`ConnectionCounter::close_unkeyed`].
    pub(crate) fn close_unkeyed(&mut self) {
        self.nets.close_unkeyed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_and_write_as_flags_do() {
        for (raw, rate) in [
            ("20/s:100", Rate::per_second(20, 100)),
            (
                "30/min",
                Rate {
                    per_minute: 30,
                    burst: 30,
                },
            ),
            (" 5/s ", Rate::per_second(5, 5)),
            (
                "7/min:2",
                Rate {
                    per_minute: 7,
                    burst: 2,
                },
            ),
        ] {
            assert_eq!(raw.parse::<Rate>(), Ok(rate), "{raw}");
            assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate), "{rate}");
        }
        for bad in [
            "",
            "20",
            "20/h",
            "x/s",
            "5/min:0",
            "0/min",
            "5/s:x",
            "99999999999/s",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
    use std::net::Ipv4Addr;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close_to(actual: Duration, expected: Duration) -> bool {
        actual.abs_diff(expected) <= ms(1)
    }

    const fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    #[test]
    fn burst_then_refusal_with_retry_after_then_refill() {
        let rate = Rate::per_second(1, 3);
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate, t0);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(rate, t0), Ok(()));
        }
        let retry = bucket.try_take(rate, t0).unwrap_err();
        assert!(close_to(retry, ms(1000)), "{retry:?}");
        let retry = bucket.is_empty(rate, t0 + ms(250)).unwrap();
        assert!(close_to(retry, ms(750)), "{retry:?}");
        // Waiting exactly the Retry-After is enough.
        assert_eq!(bucket.try_take(rate, t0 + retry + ms(250)), Ok(()));
        assert!(bucket.try_take(rate, t0 + ms(1500)).is_err());
        assert!(!bucket.is_full(rate, t0 + ms(3000)));
        assert!(bucket.is_full(rate, t0 + ms(4000)));
        for _ in 0..3 {
            assert_eq!(bucket.try_take(rate, t0 + ms(60_000)), Ok(()));
        }
        assert!(bucket.try_take(rate, t0 + ms(60_000)).is_err());
    }

    #[test]
    fn per_minute_zero_never_refills_and_burst_zero_refuses() {
        let never = rate(0, 2);
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(never, t0);
        assert_eq!(bucket.try_take(never, t0), Ok(()));
        assert_eq!(bucket.try_take(never, t0), Ok(()));
        let day = Duration::from_hours(24);
        assert_eq!(bucket.try_take(never, t0 + day), Err(MAX_RETRY_AFTER));
        let none = rate(60, 0);
        assert_eq!(
            TokenBucket::new(none, t0).try_take(none, t0 + day),
            Err(MAX_RETRY_AFTER)
        );
        assert!(
            none.validate("--lookup-burst")
                .unwrap_err()
                .contains("--lookup-burst")
        );
        assert_eq!(never.validate("x"), Ok(()));
        assert_eq!(Rate::per_second(2, 5), rate(120, 5));
    }

    #[test]
    fn now_earlier_than_last_never_panics() {
        let rate = Rate::per_second(1, 1);
        let t0 = Instant::now();
        let t1 = t0 + ms(10_000);
        let mut bucket = TokenBucket::new(rate, t1);
        assert_eq!(bucket.try_take(rate, t0), Ok(()));
        assert!(bucket.try_take(rate, t0).is_err());
        assert!(bucket.is_empty(rate, t0).is_some());
        assert!(!bucket.is_full(rate, t0));
        // The earlier `now` did not move `last` back into a double refill.
        assert!(bucket.try_take(rate, t1 + ms(500)).is_err());
        let mut limiter = KeyedLimiter::new(rate, rate, 4, t1);
        assert_eq!(limiter.try_take(1, t0), Ok(()));
        assert!(limiter.check(1, t0).is_err());
        limiter.spend(2, t0);
        limiter.prune(t0);
    }

    #[test]
    fn one_exhausted_key_does_not_refuse_another() {
        let t0 = Instant::now();
        let mut limiter =
            KeyedLimiter::new(Rate::per_second(1, 2), Rate::per_second(100, 100), 16, t0);
        assert_eq!(limiter.try_take(1, t0), Ok(()));
        assert_eq!(limiter.try_take(1, t0), Ok(()));
        let refused = limiter.try_take(1, t0).unwrap_err();
        assert_eq!(refused.scope, Scope::Key);
        assert!(close_to(refused.retry_after, ms(1000)));
        assert_eq!(limiter.try_take(2, t0), Ok(()));
        assert_eq!(limiter.try_take(1, t0 + ms(1000)), Ok(()));
    }

    #[test]
    fn global_bucket_refuses_many_keys_each_taking_a_little() {
        let t0 = Instant::now();
        let mut limiter = KeyedLimiter::new(Rate::per_second(1, 5), Rate::per_second(1, 3), 16, t0);
        for key in 0..3 {
            assert_eq!(limiter.try_take(key, t0), Ok(()));
        }
        let refused = limiter.try_take(3, t0).unwrap_err();
        assert_eq!(refused.scope, Scope::Global);
        assert!(close_to(refused.retry_after, ms(1000)));
        assert_eq!(limiter.try_take(3, t0 + ms(1000)), Ok(()));
    }

    #[test]
    fn a_refusal_spends_nothing() {
        let t0 = Instant::now();
        // Keys never refill: a drained key would stay refused.
        let mut limiter = KeyedLimiter::new(rate(0, 1), Rate::per_second(1, 2), 16, t0);
        assert_eq!(limiter.try_take(1, t0), Ok(()));
        assert_eq!(limiter.try_take(1, t0).unwrap_err().scope, Scope::Key);
        // Key 1's refusal left the global token for key 2.
        assert_eq!(limiter.try_take(2, t0), Ok(()));
        assert_eq!(limiter.try_take(3, t0).unwrap_err().scope, Scope::Global);
        // The global refusal left key 3's only token.
        assert_eq!(limiter.try_take(3, t0 + ms(1000)), Ok(()));
    }

    #[test]
    fn check_peeks_and_spend_takes() {
        let t0 = Instant::now();
        let mut limiter = KeyedLimiter::new(Rate::per_second(1, 2), rate(0, 4), 16, t0);
        for _ in 0..10 {
            assert_eq!(limiter.check(1, t0), Ok(()));
        }
        assert_eq!(limiter.tracked(), 0);
        limiter.spend(1, t0);
        limiter.spend(1, t0);
        let refused = limiter.check(1, t0).unwrap_err();
        assert_eq!(refused.scope, Scope::Key);
        assert!(close_to(refused.retry_after, ms(1000)));
        assert_eq!(limiter.try_take(1, t0).unwrap_err().scope, Scope::Key);
        // Spending on an empty key takes nothing of it, but the global token goes.
        limiter.spend(1, t0);
        assert_eq!(limiter.check(1, t0 + ms(1000)), Ok(()));
        limiter.spend(2, t0);
        assert_eq!(limiter.check(3, t0).unwrap_err().scope, Scope::Global);
    }

    #[test]
    fn prune_removes_only_full_buckets() {
        let t0 = Instant::now();
        let mut limiter =
            KeyedLimiter::new(Rate::per_second(1, 2), Rate::per_second(100, 100), 16, t0);
        assert_eq!(limiter.try_take(1, t0), Ok(()));
        assert_eq!(limiter.try_take(2, t0), Ok(()));
        assert_eq!(limiter.try_take(2, t0), Ok(()));
        limiter.prune(t0 + ms(1000));
        assert_eq!(limiter.tracked(), 1);
        assert!(limiter.buckets.contains_key(&2));
        limiter.prune(t0 + ms(2000));
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn a_flood_of_keys_never_grows_past_max_keys() {
        let t0 = Instant::now();
        let mut limiter = KeyedLimiter::new(rate(1, 1), Rate::per_second(1000, 1000), 4, t0);
        for key in 0..100 {
            let result = limiter.try_take(key, t0);
            if key < 4 {
                assert_eq!(result, Ok(()));
            } else {
                assert_eq!(result, Err(TABLE_FULL));
            }
            assert!(limiter.tracked() <= 4);
        }
        // Failed lookups from new strangers cannot grow it either, even after
        // a prune is due again.
        for key in 1000..1100 {
            limiter.spend(key, t0 + ms(2000));
            assert_eq!(limiter.tracked(), 4);
        }
        // A minute on, the strangers' buckets are full again: pruning makes room.
        assert_eq!(limiter.try_take(500, t0 + ms(60_000)), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn client_keys() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(client_key(v4), v4);
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), v4);
        let a = client_key("2001:db8:1:2::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:ffff:eeee:dddd:cccc".parse().unwrap());
        let other = client_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(a, other);
    }

    #[test]
    fn an_ipv6_site_shares_a_wider_budget_among_its_addresses() {
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        assert_eq!(site_key(ip("192.0.2.7")), None);
        assert_eq!(site_key(ip("::ffff:192.0.2.7")), None);
        assert_eq!(site_key(ip("2001:db8:1:ff02::9")), Some(ip("2001:db8:1::")));
        let t0 = Instant::now();
        // One per address, three per /48.
        let mut limiter = AddressLimiter::new(rate(0, 1), Rate::per_second(1000, 1000), 3, 16, t0);
        for net in 0..3 {
            assert_eq!(
                limiter.try_take(ip(&format!("2001:db8:1:{net}::1")), t0),
                Ok(())
            );
        }
        let refused = limiter.try_take(ip("2001:db8:1:9::1"), t0).unwrap_err();
        assert_eq!(refused.scope, Scope::Site);
        assert_eq!(
            limiter.check(ip("2001:db8:1:9::1"), t0).unwrap_err().scope,
            Scope::Site
        );
        // Another site, and IPv4, have their own.
        assert_eq!(limiter.try_take(ip("2001:db8:2:9::1"), t0), Ok(()));
        assert_eq!(limiter.try_take(ip("192.0.2.1"), t0), Ok(()));
        assert_eq!(limiter.try_take(ip("192.0.2.2"), t0), Ok(()));
        // A refused address spent nothing of its site's budget.
        let mut limiter = AddressLimiter::new(rate(0, 1), Rate::per_second(1000, 1000), 2, 16, t0);
        assert_eq!(limiter.try_take(ip("2001:db8:1:1::1"), t0), Ok(()));
        assert_eq!(
            limiter
                .try_take(ip("2001:db8:1:1::2"), t0)
                .unwrap_err()
                .scope,
            Scope::Key
        );
        assert_eq!(limiter.try_take(ip("2001:db8:1:2::1"), t0), Ok(()));
        // Misses spend from both tiers.
        let mut limiter = AddressLimiter::new(rate(0, 2), Rate::per_second(1000, 1000), 2, 16, t0);
        limiter.spend(ip("2001:db8:1:1::1"), t0);
        limiter.spend(ip("2001:db8:1:2::1"), t0);
        limiter.spend(ip("2001:db8:1:3::1"), t0);
        limiter.spend(ip("2001:db8:1:3::1"), t0);
        assert_eq!(
            limiter.check(ip("2001:db8:1:4::1"), t0).unwrap_err().scope,
            Scope::Site
        );
        assert_eq!(limiter.check(ip("2001:db8:7:4::1"), t0), Ok(()));
    }

    #[test]
    fn an_ipv6_site_shares_a_wider_connection_cap() {
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        let mut counter = AddressCounter::new(2, 100, 2);
        for net in [
            "2001:db8:1:1::1",
            "2001:db8:1:1::2",
            "2001:db8:1:2::1",
            "2001:db8:1:2::2",
        ] {
            assert_eq!(counter.try_open(ip(net)), Ok(()), "{net}");
        }
        assert_eq!(counter.try_open(ip("2001:db8:1:1::3")), Err(Scope::Key));
        assert_eq!(counter.try_open(ip("2001:db8:1:3::1")), Err(Scope::Site));
        // The refusal left no count behind in the /64 it named.
        counter.close(ip("2001:db8:1:2::1"));
        assert_eq!(counter.try_open(ip("2001:db8:1:3::1")), Ok(()));
        assert_eq!(counter.try_open(ip("2001:db8:1:3::2")), Err(Scope::Site));
        for n in 0..10 {
            assert_eq!(counter.try_open(ip(&format!("192.0.2.{n}"))), Ok(()));
        }
    }

    #[test]
    fn connection_counter_caps_and_frees() {
        let mut counter = ConnectionCounter::new(2, 3);
        assert_eq!(counter.try_open('a'), Ok(()));
        assert_eq!(counter.try_open('a'), Ok(()));
        assert_eq!(counter.try_open('a'), Err(Scope::Key));
        assert_eq!(counter.try_open('b'), Ok(()));
        assert_eq!(counter.try_open('c'), Err(Scope::Global));
        counter.close('a');
        assert_eq!((counter.open_total(), counter.open_for('a')), (2, 1));
        assert_eq!(counter.try_open('c'), Ok(()));
        counter.close('a');
        counter.close('a');
        counter.close('z');
        assert!(!counter.open.contains_key(&'a'));
        assert_eq!((counter.open_total(), counter.open.len()), (2, 2));
        // Unkeyed connections meet only the total cap.
        assert_eq!(counter.try_open_unkeyed(), Ok(()));
        assert_eq!(counter.try_open_unkeyed(), Err(Scope::Global));
        counter.close_unkeyed();
        counter.close_unkeyed();
        assert_eq!(counter.open_total(), 2);
    }
}

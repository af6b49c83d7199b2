//! Per-address rate limiting of the anonymous routes (the public lot page, its
//! stylesheet, the verifiable log and proofs, status, the OpenAPI document).
//!
//! One token bucket (GCRA, the `governor` crate) per client address: an IPv4 address, or
//! an IPv6 address's /64 (one subscriber's network, which a client can fill with as many
//! addresses as it likes). The address is the TCP peer's; behind a reverse proxy every
//! client shares the proxy's bucket, so put the limit in the proxy instead and turn this
//! one off. Inspector routes are not limited here: they need a token.
//!
//! A refused request gets `429 Too Many Requests` with `Retry-After` (whole seconds), as
//! a short page for browsers or a problem document for `Accept: application/json`.
//! Memory is bounded: every [`SWEEP_EVERY`] checks, buckets that are full again (their
//! address has been quiet long enough to have its whole burst back) are dropped.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::AppState;

/// Checks between two sweeps of quiet addresses.
pub const SWEEP_EVERY: u64 = 4096;

/// How fast one client address may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    /// 20 requests a second with bursts of 60: far above what a person scanning codes
    /// asks for, while several families behind one carrier-grade NAT still get through.
    fn default() -> RateLimit {
        RateLimit {
            per_second: NonZeroU32::new(20).expect("20 is not zero"),
            burst: NonZeroU32::new(60).expect("60 is not zero"),
        }
    }
}

/// The limit's command-line flags, shared by `ledger-node` and `query-api`.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitArgs {
    /// Requests per second each client address may make to the anonymous routes (the
    /// public lot page, the log and proofs); 0 turns the limit off (for instance behind
    /// a reverse proxy that limits, since every client then shares its address).
    #[arg(long, env = "FOODTRACE_PUBLIC_RATE_LIMIT", default_value_t = 20)]
    pub public_rate_limit: u32,
    /// Requests each client address may make at once after a quiet spell.
    #[arg(long, env = "FOODTRACE_PUBLIC_BURST", default_value_t = 60)]
    pub public_burst: u32,
}

impl RateLimitArgs {
    /// The limit the flags ask for, if any.
    pub fn limit(&self) -> Option<RateLimit> {
        Some(RateLimit {
            per_second: NonZeroU32::new(self.public_rate_limit)?,
            burst: NonZeroU32::new(self.public_burst.max(1)).expect("at least 1"),
        })
    }
}

/// The buckets, one per client address.
pub struct PublicLimiter {
    buckets: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl PublicLimiter {
    /// A limiter allowing `limit` per address.
    pub fn new(limit: RateLimit) -> PublicLimiter {
        PublicLimiter {
            buckets: RateLimiter::keyed(
                Quota::per_second(limit.per_second).allow_burst(limit.burst),
            ),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a token for `address`; if none is left, how long until there is one.
    pub fn check(&self, address: IpAddr) -> Result<(), std::time::Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
        self.buckets
            .check_key(&bucket_of(address))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Addresses with a bucket right now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The bucket an address falls in: itself (IPv4), or its /64 (IPv6).
pub(crate) fn bucket_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Middleware: refuses a request from an address over its limit. Requests without a
/// peer address (served in-process, not over TCP) are not limited.
pub(crate) async fn limit_anonymous(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (Some(limiter), Some(ConnectInfo(peer))) = (
        state.public_limiter.as_deref(),
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    ) else {
        return next.run(request).await;
    };
    match limiter.check(peer.ip()) {
        Ok(()) => next.run(request).await,
        Err(wait) => too_many(&request, wait),
    }
}

fn too_many(request: &Request, wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let headers = request.headers();
    let api = request.uri().path().starts_with("/v1/");
    let mut response = if api || crate::public::wants_json(headers) {
        crate::ApiError::too_many_requests(format!(
            "this address asked too often; try again in {seconds} s"
        ))
        .into_response()
    } else {
        let page = crate::public::too_many_page(request.uri(), headers, seconds);
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    crate::public::CONTENT_SECURITY_POLICY,
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            page,
        )
            .into_response()
    };
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&seconds.to_string()).expect("digits are a header value"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket_of(a), bucket_of(b));
        assert_ne!(bucket_of(a), bucket_of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(bucket_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_burst_then_refusal_with_a_wait_then_other_addresses_unaffected() {
        let limiter = PublicLimiter::new(RateLimit {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        });
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(me), Ok(()));
        }
        let wait = limiter.check(me).expect_err("the fourth is over the burst");
        assert!(wait > std::time::Duration::ZERO && wait <= std::time::Duration::from_secs(1));
        assert_eq!(limiter.check("192.0.2.2".parse().unwrap()), Ok(()));
        assert_eq!(limiter.tracked(), 2);
    }

    #[test]
    fn quiet_addresses_are_swept() {
        let limiter = PublicLimiter::new(RateLimit {
            per_second: NonZeroU32::new(1_000_000).unwrap(),
            burst: NonZeroU32::new(1).unwrap(),
        });
        // Many distinct addresses, each asking once; their buckets refill within a
        // microsecond (less than a few checks take), so the sweeps keep the map far
        // below the number of addresses.
        for i in 0..(4 * SWEEP_EVERY as u32) {
            let _ = limiter.check(IpAddr::V4(i.into()));
        }
        assert!(
            limiter.tracked() < 2 * SWEEP_EVERY as usize,
            "{} buckets kept",
            limiter.tracked()
        );
    }
}

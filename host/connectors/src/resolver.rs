//! Provider host names resolved once a minute, not on every request.
//!
//! Why: ureq 3 resolves a request's host before it looks for a pooled connection, and with
//! a timeout set (ours always have one) it runs each lookup on a new thread so it can give
//! up on time. So every delivery spawned a thread and asked the system resolver again, even
//! over a kept-alive connection: a `perf` profile of the delivery lanes showed thread
//! creation at about a tenth of their time, and against a real provider each lookup may be
//! a DNS round trip. ureq's own resolver still does the lookup (with its timeout) when a
//! host is new or its answer is older than [`TTL`].

use super::coalesce::CoalescingConnector;
use redial_core::policy::is_public;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, DefaultConnector, NextTimeout};

/// How long an answer is used before the host is looked up again (providers move hosts
/// behind DNS; a minute bounds how long a stale address is tried).
pub const TTL: Duration = Duration::from_secs(60);

/// An HTTP agent with `config` whose host lookups go through a [`CachingResolver`] and
/// whose requests each leave in one write ([`CoalescingConnector`]).
pub fn agent(config: Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        DefaultConnector::default().chain(CoalescingConnector),
        CachingResolver::default(),
    )
}

/// A [`Resolver`] that keeps each `host:port`'s addresses for [`TTL`].
#[derive(Debug, Default)]
pub struct CachingResolver {
    lookup: DefaultResolver,
    answers: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl CachingResolver {
    /// The cached answer for `key` (`host:port`), if it is fresh.
    fn cached(&self, key: &str) -> Option<ResolvedSocketAddrs> {
        let answers = self.answers.lock().unwrap();
        let (at, addrs) = answers.get(key)?;
        (at.elapsed() < TTL).then(|| addrs.clone())
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority),
            _ => None,
        };
        let Some(key) = key else {
            // Not a full URL: let ureq's resolver report it.
            return self.lookup.resolve(uri, config, timeout);
        };
        if let Some(addrs) = self.cached(&key) {
            return Ok(addrs);
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        self.answers
            .lock()
            .unwrap()
            .insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// Where a tenant's own endpoints (its webhook URLs) may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Destinations {
    /// Public internet addresses only: a host that resolves to loopback, a private or
    /// link-local range (cloud metadata) or the like is refused, on the addresses the
    /// request would actually connect to.
    #[default]
    PublicOnly,
    /// Anywhere: the operator's choice for development and tests on loopback.
    Any,
}

/// A [`CachingResolver`] that refuses a host with any address outside the public
/// internet, so a tenant's URL cannot reach the server's own network, whatever its name.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver(CachingResolver);

impl Resolver for PublicOnlyResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.0.resolve(uri, config, timeout)?;
        if let Some(inside) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} resolves to {}, which is not a public address",
                    uri.host().unwrap_or_default(),
                    inside.ip()
                ),
            )));
        }
        Ok(addrs)
    }
}

/// An HTTP agent for tenants' own endpoints: like [`agent`], but the lookups go through a
/// [`PublicOnlyResolver`] unless the operator allows [`Destinations::Any`].
pub fn tenant_agent(config: Config, destinations: Destinations) -> ureq::Agent {
    match destinations {
        Destinations::Any => agent(config),
        Destinations::PublicOnly => ureq::Agent::with_parts(
            config,
            DefaultConnector::default().chain(CoalescingConnector),
            PublicOnlyResolver::default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &CachingResolver, url: &str) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let timeout = NextTimeout {
            after: Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        r.resolve(&url.parse().unwrap(), &Config::default(), timeout)
    }

    #[test]
    fn a_host_is_looked_up_once_then_answered_from_the_cache() {
        let r = CachingResolver::default();
        let first = resolve(&r, "http://127.0.0.1:8080/call").unwrap();
        assert_eq!(first[0].to_string(), "127.0.0.1:8080");
        assert_eq!(
            r.cached("127.0.0.1:8080").map(|a| a[0]),
            Some(first[0]),
            "kept for the next request"
        );
        let again = resolve(&r, "http://127.0.0.1:8080/other").unwrap();
        assert_eq!(again[0], first[0]);
        assert!(
            r.cached("127.0.0.1:9090").is_none(),
            "another port is another key"
        );
    }

    #[test]
    fn a_stale_answer_is_looked_up_again() {
        let r = CachingResolver::default();
        resolve(&r, "http://127.0.0.1:8080/").unwrap();
        let stale = Instant::now() - TTL - Duration::from_secs(1);
        r.answers
            .lock()
            .unwrap()
            .get_mut("127.0.0.1:8080")
            .unwrap()
            .0 = stale;
        assert!(r.cached("127.0.0.1:8080").is_none());
        resolve(&r, "http://127.0.0.1:8080/").unwrap();
        assert!(r.cached("127.0.0.1:8080").is_some(), "refreshed");
    }
}

#[cfg(test)]
mod destination_tests {
    use super::*;

    #[test]
    fn a_host_inside_the_servers_network_is_refused_for_tenant_endpoints() {
        let timeout = NextTimeout {
            after: Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        let r = PublicOnlyResolver::default();
        for url in [
            "http://localhost:8080/",
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://[::1]/",
        ] {
            let refused = r.resolve(&url.parse().unwrap(), &Config::default(), timeout);
            assert!(refused.is_err(), "{url}");
        }
        let public = r.resolve(
            &"http://8.8.8.8/".parse().unwrap(),
            &Config::default(),
            timeout,
        );
        assert!(public.is_ok(), "{public:?}");
    }
}

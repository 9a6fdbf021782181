//! The SSRF guard for every request to an app's URL. App owners choose their webhook URLs,
//! so the gateway must never be made to call into its own network: `https` only (plain `http`
//! to loopback only for the local stack), no user info, no redirects, and every address a name
//! resolves to is checked in the resolver the connection uses, so DNS rebinding cannot pass.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Allows plain `http` and loopback addresses: only for the local stack.
    pub allow_loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("only https URLs are allowed, not {0}")]
    Scheme(String),
    #[error("the address {0} is not allowed")]
    Address(IpAddr),
    #[error("{0} resolves to no address")]
    Unresolvable(String),
    #[error("not a usable URL: {0}")]
    Malformed(String),
}

/// Whether a connection to `ip` is allowed.
pub fn allowed_address(ip: IpAddr, policy: OutboundPolicy) -> bool {
    match ip {
        IpAddr::V4(v4) => allowed_v4(v4, policy),
        IpAddr::V6(v6) => allowed_v6(v6, policy),
    }
}

fn allowed_v4(ip: Ipv4Addr, policy: OutboundPolicy) -> bool {
    if ip.is_loopback() {
        return policy.allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", 0.0.0.0/8
        || a == 10 // private
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
        || (a == 169 && b == 254) // link-local, the metadata service among them
        || (a == 172 && (b & 0xf0) == 16) // private 172.16/12
        || (a == 192 && b == 168) // private
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF protocol assignments, documentation
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved 240/4, broadcast
    !refused
}

fn allowed_v6(ip: Ipv6Addr, policy: OutboundPolicy) -> bool {
    if ip.is_loopback() {
        return policy.allow_loopback;
    }
    // An IPv4 address wrapped in IPv6 is refused outright: it is how filters get bypassed.
    if ip.to_ipv4_mapped().is_some() {
        return false;
    }
    let s = ip.segments();
    let embedded = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64: judge the IPv4 address inside.
        return allowed_v4(
            embedded(s[6], s[7]),
            OutboundPolicy {
                allow_loopback: false,
            },
        );
    }
    if s[0] == 0x2002 {
        // 6to4: likewise.
        return allowed_v4(
            embedded(s[1], s[2]),
            OutboundPolicy {
                allow_loopback: false,
            },
        );
    }
    let refused = ip.is_unspecified()
        || ip.is_multicast()
        || s[..6].iter().all(|x| *x == 0) // IPv4-compatible ::/96
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8); // documentation
    !refused
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a URL's scheme, user info and, for an IP literal (which is never resolved), its
/// address.
pub fn check_url(url: &str, policy: OutboundPolicy) -> Result<Url, Blocked> {
    let url = Url::parse(url).map_err(|e| Blocked::Malformed(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback && is_loopback_host(&url) => {}
        other => return Err(Blocked::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Blocked::Malformed("user info in a webhook URL".into()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(Blocked::Malformed("no host".into())),
    };
    if let Some(ip) = ip.filter(|ip| !allowed_address(*ip, policy)) {
        return Err(Blocked::Address(ip));
    }
    Ok(url)
}

/// Resolves a host name; pluggable so that tests can make any name resolve to any address.
pub trait HostLookup: Send + Sync + 'static {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system's resolver.
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// The resolver the webhook client connects through: what it answers is what is checked.
struct GuardedResolver {
    lookup: Arc<dyn HostLookup>,
    policy: OutboundPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup.clone();
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = lookup.lookup(host.clone()).await?;
            let allowed: Vec<SocketAddr> = found
                .iter()
                .filter(|ip| allowed_address(**ip, policy))
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                let blocked = match found.first() {
                    Some(ip) => Blocked::Address(*ip),
                    None => Blocked::Unresolvable(host),
                };
                return Err(Box::new(blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for app webhooks: the guarded resolver, no redirects, no proxy from the
/// environment, a connect timeout of at most 2 s and a total timeout.
pub fn webhook_client(policy: OutboundPolicy, timeout: Duration) -> reqwest::Client {
    webhook_client_with(policy, timeout, Arc::new(SystemLookup))
}

/// [`webhook_client`] with another lookup, so that tests can resolve names to any address.
pub fn webhook_client_with(
    policy: OutboundPolicy,
    timeout: Duration,
    lookup: Arc<dyn HostLookup>,
) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver { lookup, policy })
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_certs_only(crate::adapters::trust::reqwest_roots())
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .timeout(timeout)
        .build()
        .expect("the webhook client's settings are valid")
}

/// Whether a request failed because the guard refused its address.
pub fn is_blocked(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.downcast_ref::<Blocked>().is_some() {
            return true;
        }
        source = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: OutboundPolicy = OutboundPolicy {
        allow_loopback: false,
    };
    const LOCAL: OutboundPolicy = OutboundPolicy {
        allow_loopback: true,
    };

    #[test]
    fn every_private_or_special_range_is_refused() {
        for refused in [
            "169.254.169.254",
            "169.254.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::10.0.0.1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!allowed_address(ip, STRICT), "{refused} was allowed");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for allowed in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(
                allowed_address(allowed.parse().unwrap(), STRICT),
                "{allowed} was refused"
            );
        }
    }

    #[test]
    fn the_local_stack_may_reach_loopback_and_nothing_else_private() {
        assert!(allowed_address("127.0.0.1".parse().unwrap(), LOCAL));
        assert!(allowed_address("::1".parse().unwrap(), LOCAL));
        assert!(!allowed_address("10.0.0.1".parse().unwrap(), LOCAL));
        assert!(!allowed_address("::ffff:127.0.0.1".parse().unwrap(), LOCAL));
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        assert!(check_url("https://example.com/hook", STRICT).is_ok());
        assert_eq!(
            check_url("http://example.com/hook", STRICT),
            Err(Blocked::Scheme("http".into()))
        );
        assert_eq!(
            check_url("ftp://example.com/", STRICT),
            Err(Blocked::Scheme("ftp".into()))
        );
        assert!(matches!(
            check_url("https://10.0.0.1/x", STRICT),
            Err(Blocked::Address(_))
        ));
        assert!(matches!(
            check_url("https://[::ffff:169.254.169.254]/", STRICT),
            Err(Blocked::Address(_))
        ));
        assert!(matches!(
            check_url("https://user:pw@example.com/", STRICT),
            Err(Blocked::Malformed(_))
        ));
        assert!(matches!(
            check_url("not a url", STRICT),
            Err(Blocked::Malformed(_))
        ));
        assert!(check_url("http://127.0.0.1:9002/webhook", LOCAL).is_ok());
        assert!(check_url("http://localhost:9002/webhook", LOCAL).is_ok());
        assert_eq!(
            check_url("http://10.0.0.1/", LOCAL),
            Err(Blocked::Scheme("http".into()))
        );
        assert!(matches!(
            check_url("http://127.0.0.1:9002/", STRICT),
            Err(Blocked::Scheme(_))
        ));
    }
}

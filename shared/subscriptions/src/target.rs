//! Where a delivery may go. A subscription's URL is `https` (plain `http` only to a loopback
//! host, and only where loopback is allowed: the local stack), carries no credentials or
//! fragment, and must not lead into our own network: a URL whose host resolves to a private,
//! loopback, link-local (the instance metadata endpoint), shared (CGNAT), multicast or reserved
//! address is refused (SSRF). The check runs when a subscription is made and again before each
//! delivery, which then connects only to the addresses checked (pinned), so a DNS answer that
//! changes in between (rebinding) cannot redirect it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

const MAX_URL_LEN: usize = 2048;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("not a URL: {0}")]
    Unreadable(String),
    #[error("the URL must be https")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the URL's host {host} resolves to {addr}, an address that is not public")]
    NotPublic { host: String, addr: IpAddr },
    /// Retryable: DNS may answer later.
    #[error("the URL's host {0} does not resolve")]
    Unresolved(String),
}

impl TargetError {
    /// Whether trying again later may succeed (only a failed lookup).
    pub fn is_retryable(&self) -> bool {
        matches!(self, TargetError::Unresolved(_))
    }
}

/// Which targets are allowed: in AWS only public ones; on the local stack loopback too, so
/// `make dev` delivers to a receiver on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetPolicy {
    PublicOnly,
    AllowLoopback,
}

impl TargetPolicy {
    /// Where deliveries may go in this environment: a local stack (its AWS endpoint on
    /// loopback, `AWS_ENDPOINT_URL`) may deliver to a receiver on loopback; AWS only to public
    /// addresses.
    pub fn for_endpoint(aws_endpoint: Option<&str>) -> Self {
        let local = aws_endpoint
            .and_then(|e| Url::parse(e).ok())
            .is_some_and(|u| host_is_loopback(&u));
        if local {
            TargetPolicy::AllowLoopback
        } else {
            TargetPolicy::PublicOnly
        }
    }
}

/// A checked subscription URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target(Url);

impl Target {
    /// Checks the URL's form (not yet where its host resolves: [`Target::resolve`]).
    pub fn parse(text: &str, policy: TargetPolicy) -> Result<Self, TargetError> {
        if text.len() > MAX_URL_LEN {
            return Err(TargetError::TooLong);
        }
        let mut url =
            Url::parse(text.trim()).map_err(|e| TargetError::Unreadable(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let loopback = host_is_loopback(&url);
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if loopback && policy == TargetPolicy::AllowLoopback => {}
            _ => return Err(TargetError::NotHttps),
        }
        if let Some(ip) = literal_ip(&url) {
            check_addr(&url, ip, policy)?;
        }
        url.set_fragment(None);
        Ok(Self(url))
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn host(&self) -> String {
        self.0.host_str().unwrap_or_default().to_owned()
    }

    /// The addresses to connect to: every address the host resolves to, each allowed by
    /// `policy` (one that is not refuses the URL altogether).
    pub async fn resolve(&self, policy: TargetPolicy) -> Result<Vec<SocketAddr>, TargetError> {
        let port = self.0.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match literal_ip(&self.0) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((self.host().as_str(), port))
                .await
                .map_err(|_| TargetError::Unresolved(self.host()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(TargetError::Unresolved(self.host()));
        }
        for a in &addrs {
            check_addr(&self.0, a.ip(), policy)?;
        }
        Ok(addrs)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

fn host_is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_addr(url: &Url, addr: IpAddr, policy: TargetPolicy) -> Result<(), TargetError> {
    let allowed = is_public(addr) || (policy == TargetPolicy::AllowLoopback && addr.is_loopback());
    if allowed {
        Ok(())
    } else {
        Err(TargetError::NotPublic {
            host: url.host_str().unwrap_or_default().to_owned(),
            addr,
        })
    }
}

/// Whether an address is on the public internet: not private, loopback, link-local, shared
/// (CGNAT), unspecified, broadcast, multicast, documentation or reserved; IPv6 likewise, with
/// IPv4-mapped and NAT64 addresses judged by the IPv4 address they carry.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return is_public_v4(v4);
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible, deprecated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_only_on_a_local_stack() {
        assert_eq!(
            TargetPolicy::for_endpoint(Some("http://127.0.0.1:5055")),
            TargetPolicy::AllowLoopback
        );
        assert_eq!(TargetPolicy::for_endpoint(None), TargetPolicy::PublicOnly);
        assert_eq!(
            TargetPolicy::for_endpoint(Some("https://dynamodb.eu-west-1.amazonaws.com")),
            TargetPolicy::PublicOnly
        );
    }

    #[test]
    fn only_https_urls_without_credentials() {
        let p = TargetPolicy::PublicOnly;
        assert!(Target::parse("https://hooks.example.com/pms?x=1", p).is_ok());
        assert_eq!(
            Target::parse("http://hooks.example.com/pms", p),
            Err(TargetError::NotHttps)
        );
        assert_eq!(
            Target::parse("ftp://hooks.example.com/", p),
            Err(TargetError::NotHttps)
        );
        assert_eq!(
            Target::parse("https://user:pw@hooks.example.com/", p),
            Err(TargetError::Credentials)
        );
        assert!(matches!(
            Target::parse("not a url", p),
            Err(TargetError::Unreadable(_))
        ));
        let long = format!("https://h.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(Target::parse(&long, p), Err(TargetError::TooLong));
        // The fragment is never sent; it is dropped.
        let t = Target::parse("https://h.example.com/p#frag", p).unwrap();
        assert_eq!(t.url().as_str(), "https://h.example.com/p");
    }

    #[test]
    fn loopback_only_where_allowed() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost:9/x",
            "https://[::1]/x",
        ] {
            assert!(
                Target::parse(url, TargetPolicy::AllowLoopback).is_ok(),
                "{url}"
            );
            assert!(
                Target::parse(url, TargetPolicy::PublicOnly).is_err(),
                "{url}"
            );
        }
        // Loopback is the only exception locally: plain http elsewhere is still refused.
        assert_eq!(
            Target::parse("http://10.0.0.1/x", TargetPolicy::AllowLoopback),
            Err(TargetError::NotHttps)
        );
    }

    #[test]
    fn addresses_inside_any_network_are_not_public() {
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn a_literal_private_address_is_refused_when_parsed() {
        assert!(matches!(
            Target::parse(
                "https://169.254.169.254/latest/meta-data",
                TargetPolicy::PublicOnly
            ),
            Err(TargetError::NotPublic { .. })
        ));
        assert!(matches!(
            Target::parse("https://[fd12::1]/x", TargetPolicy::AllowLoopback),
            Err(TargetError::NotPublic { .. })
        ));
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_in_aws_and_pinned_locally() {
        let t = Target::parse("https://localhost:8443/x", TargetPolicy::AllowLoopback).unwrap();
        let addrs = t.resolve(TargetPolicy::AllowLoopback).await.unwrap();
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8443));
        assert!(matches!(
            t.resolve(TargetPolicy::PublicOnly).await,
            Err(TargetError::NotPublic { .. })
        ));
    }
}

//! Which IP addresses are not a merchant's public endpoint: paybridge's own networks, the
//! special-purpose ranges of the IANA registries (RFC 6890 and its successors), and the IPv6
//! forms that carry an IPv4 address inside (NAT64, IPv4-compatible, IPv4-mapped, 6to4), judged
//! by the IPv4 address they carry.
//!
//! Why the unwrapping: a NAT64 gateway turns `64:ff9b::7f00:1` into `127.0.0.1`, a 6to4 relay
//! `2002:a9fe:a9fe::` into `169.254.169.254`; judged as IPv6 they would look public. A leaf
//! module (no imports from the crate) so that the configuration, the dialects and the delivery
//! worker judge an address the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is not a public unicast address a merchant could be reached at.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

/// The URL's host, when it is a literal IP address that is [`internal`] (a host name is
/// judged where it is resolved).
pub fn literal_internal(url: &str) -> bool {
    literal_ip(url).is_some_and(internal)
}

/// The URL's host as an IP address, when it is one (`[…]` around IPv6 removed).
pub fn literal_ip(url: &str) -> Option<IpAddr> {
    let uri = url.parse::<http::Uri>().ok()?;
    let host = uri.host()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// IPv4 special-purpose ranges (IANA IPv4 Special-Purpose Address Registry) that are not
/// globally reachable, plus multicast and the reserved 240.0.0.0/4.
fn internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    a == 0 // 0.0.0.0/8 "this network"
        || a == 10 // 10.0.0.0/8 private
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 carrier-grade NAT
        || a == 127 // 127.0.0.0/8 loopback
        || (a == 169 && b == 254) // 169.254.0.0/16 link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // 172.16.0.0/12 private
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // 192.0.2.0/24 TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 192.88.99.0/24 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168) // 192.168.0.0/16 private
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15 benchmarking
        || (a == 198 && b == 51 && c == 100) // 198.51.100.0/24 TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // 203.0.113.0/24 TEST-NET-3
        || a >= 224 // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, 255.255.255.255
}

/// The IPv4 address an IPv6 address stands for, in the forms a host or a translator would
/// turn into IPv4 traffic.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last32 = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d, IPv4-mapped.
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last32()),
        // ::a.b.c.d, IPv4-compatible (deprecated, RFC 4291 §2.5.5.1); `::` and `::1` are
        // 0.0.0.0 and 0.0.0.1 this way, both internal, as they are in IPv6.
        [0, 0, 0, 0, 0, 0, _, _] => Some(last32()),
        // 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052): the IPv4 in the last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32()),
        // 64:ff9b:1::/48, the local-use NAT64 prefix (RFC 8215), as a /96 inside it: the
        // IPv4 in the last 32 bits.
        [0x64, 0xff9b, 1, ..] => Some(last32()),
        // 2002::/16, 6to4 (RFC 3056): the IPv4 in bits 16..48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// IPv6 special-purpose ranges (IANA IPv6 Special-Purpose Address Registry) that are not a
/// public unicast address, once the IPv4-carrying forms are taken out.
fn internal_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    (s[0] & 0xff00) == 0 // ::/8 reserved (::, ::1, ::ffff:0:a.b.c.d, …)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // 100::/64 discard-only
        || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 IETF protocol assignments, Teredo
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20 documentation (RFC 9637)
        || s[0] == 0x5f00 // 5f00::/16 SRv6 SIDs
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(text: &str) -> bool {
        internal(text.parse().unwrap())
    }

    #[test]
    fn the_ipv4_special_purpose_registry_is_internal() {
        for ip in [
            "0.0.0.0",
            "0.255.1.1",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.9.9.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "250.1.2.3",
            "255.255.255.255",
        ] {
            assert!(judged(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.1",
            "203.0.114.1",
            "223.255.255.254",
        ] {
            assert!(!judged(ip), "{ip}");
        }
    }

    #[test]
    fn the_ipv6_special_purpose_registry_is_internal() {
        for ip in [
            "::",
            "::1",
            "::ffff:0:7f00:1", // IPv4-translated (SIIT), in ::/8
            "100::1",
            "2001::1",     // Teredo
            "2001:2::1",   // benchmarking
            "2001:db8::1", // documentation
            "3fff::1",     // documentation (RFC 9637)
            "3fff:fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(judged(ip), "{ip}");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2001:200::1",
            "3ffe::1",
            "3fff:1000::1",
            "100:0:0:1::1",
            "2400:cb00::1",
        ] {
            assert!(!judged(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_carrying_an_ipv4_address_are_judged_by_it() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::169.254.169.254",
            "::10.1.2.3",
            "64:ff9b::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::198.18.0.1",
            "64:ff9b::240.0.0.1",
            "64:ff9b:1::10.0.0.1",
            "64:ff9b:1:abcd::192.168.0.1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101:1::1",
            "2002:0a00:0001::",
        ] {
            assert!(judged(ip), "{ip}");
        }
        for ip in [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
            "64:ff9b:1::1.1.1.1",
            "2002:0808:0808::1",
        ] {
            assert!(!judged(ip), "{ip}");
        }
    }

    #[test]
    fn literal_hosts_are_read_from_urls() {
        assert!(literal_internal("http://127.0.0.1:9100/admin/reload"));
        assert!(literal_internal("http://[::1]:80/x"));
        assert!(literal_internal("http://[64:ff9b::7f00:1]/n"));
        assert!(literal_internal(
            "https://[2002:a9fe:a9fe::]/latest/meta-data"
        ));
        assert!(literal_internal("http://198.18.0.1/n"));
        assert!(!literal_internal("https://shop.example.com/n"));
        assert!(!literal_internal("https://8.8.8.8/n"));
        assert!(!literal_internal("not a url"));
        assert_eq!(
            literal_ip("http://[64:ff9b::a9fe:a9fe]:8080/n?x=1"),
            Some("64:ff9b::a9fe:a9fe".parse().unwrap())
        );
    }
}

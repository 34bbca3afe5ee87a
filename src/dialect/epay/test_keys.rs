//! Test data shared by this folder's unit tests: SDK2's sample key pair (epay.md Appendix A, public
//! sample data) and the E9 request of epay.md §15.

/// SDK2's sample merchant private key (base64 PKCS#8 DER), standing in for the platform key.
pub const SAMPLE_PRIVATE: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCBIB1e5lAYtFyXq5I8UIQ6KidYZcWkn0SwVS8Rk0SNZVrvL/UJk6Q1zkJs4pUCykTBS/tTrP2rNPOsK1VO/AQHIzhvAujsv7UK2LptcsuNRPCF5GYxndQnOawAGKNQKsMuNcDzyuyTMbZIBEYSRWIoU3dMz4wWEFso/VdVS4uKTZWZnBOeCDdzDAJ7TwbmaOkT919DfZbXAoMH9n3sG4BMpqQExTDoFY6dq6EPXCWVZgoUfecAgNKSfX5TagSUaAxq4eF5vsUfvj+LFpYIrIssmSVErtZuRXLHWVSEbsNxdDPNuS3BtxWEY7GRPF9RJevtoC5L5LN7Gn+RYCqZNZv7AgMBAAECggEAEA6ZTb11hQzwsrUAM1s5MNkgbsABIDk6BnTMAfMpRC1awyxYhqoDHTnFTYWuTVwvyUW/PtGKnelbdTPSS5x6jRSr0N+GGDgNYF2Wbpkm3Ni6Jubsb7ZrtRED5Y3Vc9j4JTKZXaJaDEJ9+LNSBLWiFi0C7zH5U/O8ElB8CrxL4ZUaZv0JgV9NcDpS5jAtpPSyBLrdhbEheertJiHQU0V+FaaXq8taNcYIA/Xim6+vqcFFtUA3PBBTXHn/NE5uasXi+N+De4IT+dBmirzVSZjviDPr9RSBUi6KPUSXx6eDa26SKeEqJZvBtlASDM+ZC0yhDz0eyV49tMjk7eF5fnCIwQKBgQC2nEiR2t5Q02tHaKesZMRGOwxEyMFQj6viDW+Yffg59Tu6QYuqdR558/zmzWcJFMH3DVQzTXpzPNU9TA3/yT/Q42iKBP70K8O9tJO+gd/jLHLqgw90Wyh2b4FJXXQqVQMkxGBQKRfNi6krWigJNBs8Z8IhczorQHYNbBIUI05poQKBgQC1BRI8zKf+85GuJXTxJ93RXbkOQMUIhT/6eyFTZvCLC9Qqba1/1ouNbtmxNsFFIC+n+rHRN9btKt90m9YFvXD90m3y34M88QjvaQcA1Kng9Q6Xia8DizpVIYGAR/Pfn36BZQeHHVz9te6QJ9hVOgZO3GG62Echd9M/rwOzuU14GwKBgFGtS2Q5khByz9wLuluIYqXLCWzGoninGkksm0qIpXs+7e0cHh0q72u6rtaI7toH983Jn2ym7esXPYWCPAy5dhq3bG23WFXcMVvrpd2i94IDwo6T+lif4VRAAYLQEwJQLezHDREtoCDmo87pL1kWfkwhWJpfkJgB6AuO1/M763mhAoGBAIPEGj9plcwOzndeSp6UL3IMb/1BBmuqWyTgZiTIpMYCKUFtLsMEj/a2vv2xZsQDpsz2vmMV63weHiRKn2L0QABzIZeOPYCpz6A96lwfcT0QBLwn+95vhVmclyCiv5GDDtnviag/poYD3ZDPgDihkR/sabNRZY2mJH6RzfcQJqULAoGALkSkqr0bplhfyAA6bO42l64th4YUqwouTEgp7rE36wQ28THj0a88HLU4CeiCR6LQAEGpKk04Vst97C1Q5ZeD5rc4xKINl8K5HUH8SsdMDq3r22xur2qr4kanW4hf2P/ehOeEKGuhSL+ZWeApvt1c0rqH4MQT1/7qR/dO2MikkMg=";
/// Its public half (base64 SPKI DER).
pub const SAMPLE_PUBLIC: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAgSAdXuZQGLRcl6uSPFCEOionWGXFpJ9EsFUvEZNEjWVa7y/1CZOkNc5CbOKVAspEwUv7U6z9qzTzrCtVTvwEByM4bwLo7L+1Cti6bXLLjUTwheRmMZ3UJzmsABijUCrDLjXA88rskzG2SARGEkViKFN3TM+MFhBbKP1XVUuLik2VmZwTngg3cwwCe08G5mjpE/dfQ32W1wKDB/Z97BuATKakBMUw6BWOnauhD1wllWYKFH3nAIDSkn1+U2oElGgMauHheb7FH74/ixaWCKyLLJklRK7WbkVyx1lUhG7DcXQzzbktwbcVhGOxkTxfUSXr7aAuS+Szexp/kWAqmTWb+wIDAQAB";

/// E9: a V2 `/api/pay/create` signed with the sample key.
pub struct E9 {
    pub params: Vec<(&'static str, &'static str)>,
    pub public_key: &'static str,
    pub timestamp: i64,
}

pub fn e9() -> E9 {
    E9 {
        params: vec![
            ("pid", "1000"),
            ("method", "web"),
            ("device", "pc"),
            ("type", "alipay"),
            ("out_trade_no", "20240717100000001"),
            ("notify_url", "http://127.0.0.1/SDK/notify_url.php"),
            ("return_url", "http://127.0.0.1/SDK/return_url.php"),
            ("money", "1.00"),
            ("name", "VIP会员"),
            ("clientip", "192.168.1.100"),
            ("param", ""),
            ("timestamp", "1721206072"),
            ("sign_type", "RSA"),
            ("sign", "Kq3372xbu7867BrKVSFiYzzcBgtL/Y+4fssFNERem/Y0fDMsVWeK5DLDWlfmNsUEpWvkXe/eLYkeX4+t5Hmvw0qcS79uwK1S8krr2d3wn8VYYHOJumljcYeTfJnhKJpFy/bT4IiET2xmTz41+Hn844vwTjj67zQmKURgAO6hk385ANU71fCC14rOXLDLpg/G5x4XR/29e16C9ylRr/U0Ft48N7vtkWiQfZ3GPKr0msfkGBoSO9ST9HjxtnZP+crcU4ug6lO+lqfyxDbc7dtTEmGrV7Iz/5LamEqqYTI2eQDMw02yToIX3v4nGtV0WLBM7+ZnSKfEret7E4qyufEysg=="),
        ],
        public_key: SAMPLE_PUBLIC,
        timestamp: 1_721_206_072,
    }
}

//! Which declared field a parameter name binds to, by fastjson's "smart matching": the rule Jeepay
//! binds every request with, reproduced exactly, hashes included.
//!
//! # Where Jeepay binds
//!
//! Jeepay's server (`jeequan/jeepay`, which pins fastjson **1.2.83** in its root `pom.xml`,
//! `<fastjson.version>1.2.83</fastjson.version>`) builds each request object in
//! `AbstractCtrl.getObject`: `getReqParamJSON()` (a `JSONObject`, a `HashMap`: from
//! `JSONObject.parseObject(body)` for a JSON body, or from `request.getParameterMap()` otherwise,
//! `RequestKitBean.reqParam2JSON`), then `params.toJavaObject(clazz)`, which goes
//! `TypeUtils.castToJavaBean` → `JavaBeanDeserializer.createInstance(Map, ParserConfig)`. That
//! method walks the map's entries and asks `smartMatch(key)` which field each key sets
//! (`JavaBeanDeserializer.java`, 1.2.83, `createInstance(Map…)` and `smartMatch(String, int[])`).
//! `channelExtra` is bound the same way by `JSONObject.parseObject(channelExtra, <way code>RQ.class)`
//! (`UnifiedOrderRQ.buildBizRQ`), whose streaming parser falls back to the same `smartMatch` for a
//! key that is not a field's exact name (`JavaBeanDeserializer.parseField`).
//!
//! # The rule (`smartMatch`, 1.2.83; identical in 1.2.78, which the Java SDK pins)
//!
//! 1. The exact field name (`getFieldDeserializer(key)`: a binary search over the names, then the
//!    `alternateNames` of `@JSONField`, which no Jeepay request class uses).
//! 2. Otherwise `TypeUtils.fnv1a_64_lower(key)` (FNV-1a 64 over the key's UTF-16 units, `A`–`Z`
//!    lowered, nothing else changed) is looked up among the fields' `nameHashCode`, which is
//!    `fnv1a_64_extract(name)` for a field without `@JSONField(name=…)` (`FieldInfo.nameHashCode64`).
//! 3. Otherwise `fnv1a_64_extract(key)` (the same with every `_` and `-` left out) is looked up.
//! 4. Otherwise, for a key starting `is`, `fnv1a_64_extract(key[2..])`, kept only when the field is
//!    a `boolean`/`Boolean`. No Jeepay request class has one (`isSubOpenId` is a `Byte`), so this
//!    step never binds a Jeepay field, and is not implemented.
//!
//! So `mch_no`, `MchNo`, `MCHNO`, `mch-no`, `m_c-h_N-o` all set `mchNo`; `ｍｃｈＮｏ` (full width) and
//! `mchNo2` set nothing. The comparison is of hashes, not of names: a key whose hash collides
//! with a field's binds to it in Jeepay, and does here, because the same hashes are compared.
//!
//! # A second key for the same field
//!
//! `createInstance(Map…)` sets the field once per matching entry, so the entry met last wins: the
//! order of a `HashMap`, i.e. of the keys' Java hash codes. The streaming parser of `channelExtra`
//! skips a smart match for a field already set (`setFlags`), while an exact name met by its fast
//! path still overwrites it (`JavaBeanDeserializer.deserialze`). paybridge
//! does not guess which one a gateway would take: two keys binding to one field are refused as
//! unreadable (code 11), by the binder ([`super::params`]).

/// `TypeUtils.fnv1a_64_magic_hashcode` and `fnv1a_64_magic_prime`.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 over a Java string's UTF-16 units, `A`–`Z` lowered; `_` and `-` left out when
/// `extract` (`fnv1a_64_extract`), kept otherwise (`fnv1a_64_lower`).
fn fnv1a_64(key: &str, extract: bool) -> u64 {
    let mut hash = FNV_OFFSET;
    for unit in key.encode_utf16() {
        if extract && (unit == u16::from(b'_') || unit == u16::from(b'-')) {
            continue;
        }
        let unit = if (u16::from(b'A')..=u16::from(b'Z')).contains(&unit) {
            unit + 32
        } else {
            unit
        };
        hash ^= u64::from(unit);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// `TypeUtils.fnv1a_64_lower`.
pub fn fnv1a_64_lower(key: &str) -> u64 {
    fnv1a_64(key, false)
}

/// `TypeUtils.fnv1a_64_extract`: a field's `nameHashCode`.
pub fn fnv1a_64_extract(key: &str) -> u64 {
    fnv1a_64(key, true)
}

/// The most fields a class may declare for [`Fields`].
pub const MAX_FIELDS: usize = 32;

/// The declared fields of one request class, as keys are matched against them.
pub struct Fields<'f> {
    names: &'f [&'f str],
    /// Each name's `fnv1a_64_extract`, computed on the first key that is not an exact name.
    hashes: Option<[u64; MAX_FIELDS]>,
}

impl<'f> Fields<'f> {
    /// `names` beyond [`MAX_FIELDS`] are not matched.
    pub fn new(names: &'f [&'f str]) -> Self {
        Fields {
            names: &names[..names.len().min(MAX_FIELDS)],
            hashes: None,
        }
    }

    /// The index of the field `key` binds to, by `smartMatch`'s steps 1–3 (step 4 binds nothing
    /// in Jeepay's classes).
    pub fn bind(&mut self, key: &str) -> Option<usize> {
        if let Some(i) = self.names.iter().position(|n| *n == key) {
            return Some(i);
        }
        let names = self.names;
        let hashes = &self.hashes.get_or_insert_with(|| {
            let mut hashes = [0; MAX_FIELDS];
            for (hash, name) in hashes.iter_mut().zip(names) {
                *hash = fnv1a_64_extract(name);
            }
            hashes
        })[..names.len()];
        let lower = fnv1a_64_lower(key);
        if let Some(i) = hashes.iter().position(|h| *h == lower) {
            return Some(i);
        }
        let extract = fnv1a_64_extract(key);
        hashes.iter().position(|h| *h == extract)
    }
}

/// Two names of `names` that the rule cannot tell apart (a class where one key could bind to two
/// fields), if any.
pub fn ambiguous_pair<'n>(names: &[&'n str]) -> Option<(&'n str, &'n str)> {
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            if fnv1a_64_extract(a) == fnv1a_64_extract(b) {
                return Some((a, b));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASS: &[&str] = &["version", "mchNo", "appId", "openid", "isSubOpenId"];

    fn bound(key: &str) -> Option<&'static str> {
        Fields::new(CLASS).bind(key).map(|i| CLASS[i])
    }

    #[test]
    fn the_hashes_are_fastjsons() {
        // FNV-1a 64 of the empty string is the offset basis; of "a", the published test vector.
        assert_eq!(fnv1a_64_lower(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64_lower("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64_lower("A"), fnv1a_64_lower("a"));
        assert_eq!(fnv1a_64_extract("m_c-h"), fnv1a_64_lower("mch"));
        assert_ne!(fnv1a_64_lower("m_ch"), fnv1a_64_lower("mch"));
        // UTF-16 units, as Java's `charAt`: U+1F600 is two units, neither of them lowered.
        assert_ne!(fnv1a_64_lower("😀"), fnv1a_64_lower("\u{f600}"));
    }

    #[test]
    fn renamed_keys_fold_onto_their_field() {
        for key in [
            "mchNo",
            "mch_no",
            "MchNo",
            "MCHNO",
            "mch-no",
            "mchno",
            "m_c-h_N-o",
            "_mchNo",
            "mchNo_",
            "MCH__NO",
        ] {
            assert_eq!(bound(key), Some("mchNo"), "{key}");
        }
        for key in ["openId", "open_id", "OPENID", "OpenID", "open-id"] {
            assert_eq!(bound(key), Some("openid"), "{key}");
        }
        assert_eq!(bound("is_sub_open_id"), Some("isSubOpenId"));
        assert_eq!(bound("ISSUBOPENID"), Some("isSubOpenId"));
    }

    #[test]
    fn other_keys_bind_nothing() {
        for key in [
            "mchNo2",
            "mch no",
            "mch.no",
            "mchNo\u{0}",
            "ｍｃｈＮｏ",
            "mchNö",
            // Kelvin sign: Unicode folds it to `k`, fastjson does not.
            "appId\u{212a}",
            // The `is` step binds only boolean fields, and Jeepay's classes have none.
            "isMchNo",
            "isOpenid",
            "subOpenId",
            "",
        ] {
            assert_eq!(bound(key), None, "{key:?}");
        }
    }

    #[test]
    fn a_class_whose_fields_fold_alike_is_found() {
        assert_eq!(ambiguous_pair(CLASS), None);
        assert_eq!(
            ambiguous_pair(&["openid", "x", "open_id"]),
            Some(("openid", "open_id"))
        );
    }
}

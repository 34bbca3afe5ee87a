//! Arbitrary UTF-8 as a configuration file: `Config::from_toml`, then `summary` of what loads.
//! Never panics.
//!
//! Inputs that could name a secret file (`{ file = "..." }`) are skipped: the target must not read
//! whatever path the fuzzer spells (`/dev/zero` would never end). TOML's `\u` escapes are skipped
//! with them, since they can spell `file` too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("file") || text.contains("\\u") || text.contains("\\U") {
        return;
    }
    if let Ok(config) = Config::from_toml(text) {
        let _ = config.summary();
    }
});

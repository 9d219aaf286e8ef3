//! The named hex vectors of docs/PROTOCOL.md, read for the tests that compute them: fcc-core's
//! `kat.rs` (```` ```vectors ```` blocks) and the extensions' (```` ```extension-vectors ````).

use std::collections::BTreeMap;

/// The ```` ```<fence> ```` blocks of `md`: `name = 0xHEX`, the hex possibly continued on
/// following indented lines; a name twice, a value without `0x` or bad hex panics.
pub fn parse(md: &str, fence: &str) -> BTreeMap<String, Vec<u8>> {
    let opening = format!("```{fence}");
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut in_block = false;
    let mut last: Option<String> = None;
    for line in md.lines() {
        let t = line.trim();
        if !in_block {
            in_block = t == opening;
            last = None;
            continue;
        }
        if t.starts_with("```") {
            in_block = false;
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = t.split_once('=') {
            let name = name.trim().to_string();
            let value = value.trim().strip_prefix("0x").unwrap_or_else(|| panic!("{name}: value must start with 0x"));
            assert!(out.insert(name.clone(), value.to_string()).is_none(), "{name} appears twice");
            last = Some(name);
        } else {
            let name = last.as_ref().unwrap_or_else(|| panic!("continuation without a name: {t}"));
            out.get_mut(name).unwrap().push_str(t);
        }
    }
    out.into_iter()
        .map(|(k, v)| {
            let bytes = hex::decode(&v).unwrap_or_else(|e| panic!("{k}: bad hex ({e})"));
            (k, bytes)
        })
        .collect()
}

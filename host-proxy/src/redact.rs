//! Secrets stay out of logs. The database URL and the chain's RPC URL carry passwords and API
//! keys (a Postgres password, an RPC provider's key in the path or the query); the proxy prints
//! them only as [`url`] shows them, and every log line and the error it exits with pass through
//! [`scrub`], which masks the secret parts registered at start ([`register_url`]) wherever an
//! error message quotes them (an HTTP client error names the URL it failed on).

use std::borrow::Cow;
use std::io;
use std::sync::RwLock;

/// What stands for a secret.
pub const MASK: &str = "***";

/// Path segments this long are taken for keys (`/v3/<key>`, `/v2/<key>`); shorter ones are
/// names (`/rpc`, `/ext/bc/C/rpc`).
const KEY_SEGMENT_LEN: usize = 16;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The secret parts of `url`: its password, its query, and path segments long enough to be keys.
/// An unparseable URL is secret as a whole.
fn secret_parts(url: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(url) else { return vec![url.to_string()] };
    let mut parts: Vec<String> = u.password().map(str::to_string).into_iter().collect();
    parts.extend(u.query().filter(|q| !q.is_empty()).map(str::to_string));
    if !u.scheme().starts_with("sqlite") {
        parts
            .extend(u.path_segments().into_iter().flatten().filter(|s| s.len() >= KEY_SEGMENT_LEN).map(str::to_string));
    }
    parts
}

/// Masks the secret parts of `url` wherever the logs quote it from now on.
pub fn register_url(url: &str) {
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for part in secret_parts(url) {
        if !part.is_empty() && !secrets.contains(&part) {
            secrets.push(part);
        }
    }
    // Longest first: a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `url` as the logs may show it: scheme, user, host, port and the path with its secret parts
/// masked.
pub fn url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return format!("<not a URL: {MASK}>") };
    if u.password().is_some() {
        let _ = u.set_password(Some(MASK));
    }
    if u.query().is_some_and(|q| !q.is_empty()) {
        u.set_query(Some(MASK));
    }
    u.set_fragment(None);
    let mut shown = u.to_string();
    if !u.scheme().starts_with("sqlite") {
        for part in secret_parts(url) {
            shown = shown.replace(&part, MASK);
        }
    }
    shown
}

/// `text` with every registered secret masked.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// Standard error, scrubbed: the log writer. Each event arrives in one write, so a secret is
/// never split across writes.
pub struct Stderr;

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_no_secret_and_errors_are_scrubbed() {
        let rpc = "https://user:rpc-pass-0001@rpc.example:8545/v3/0123456789abcdef0123?apikey=query-key-0002#frag";
        assert_eq!(url(rpc), "https://user:***@rpc.example:8545/v3/***?***");
        assert_eq!(url("https://flare-api.flare.network/ext/C/rpc"), "https://flare-api.flare.network/ext/C/rpc");
        assert_eq!(url("postgres://fcc:db-pass-0003@db:5432/fcc"), "postgres://fcc:***@db:5432/fcc");
        assert_eq!(
            url("sqlite:///var/lib/fcc-proxy/a-rather-long-file-name.db"),
            "sqlite:///var/lib/fcc-proxy/a-rather-long-file-name.db"
        );
        assert_eq!(url("not a url with key-0004"), "<not a URL: ***>");
        register_url(rpc);
        register_url("postgres://fcc:db-pass-0003@db:5432/fcc");
        let error = format!("error sending request for url ({rpc}); also db-pass-0003");
        let scrubbed = scrub(&error);
        for secret in ["rpc-pass-0001", "0123456789abcdef0123", "query-key-0002", "db-pass-0003"] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("rpc.example:8545/v3/***"), "{scrubbed}");
        assert_eq!(scrub("nothing secret"), "nothing secret");
    }
}

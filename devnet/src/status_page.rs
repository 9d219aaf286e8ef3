//! The last stage (`--status-page DIR`): the live TEE's proxy's status page, loaded in headless
//! Chromium as an operator would open it. The page's rendered DOM must show what the devnet
//! knows independently — the TEE's id and platform, the accepted (simulated) attestation, the
//! policy epoch the chain moved to, an empty queue — the same recent actions, in the same order,
//! as `/status/data`, and the same histogram counts as `/metrics`. The DOM and a screenshot are
//! kept in DIR as the test's artifacts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use alloy::primitives::Address;
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::stage::Trace;

/// Where Debian's `chromium` package puts the browser; `FCC_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";

/// What the page must show.
pub struct Expected {
    /// The live TEE.
    pub tee: Address,
    /// The signing policy's epoch the devnet's chain moved to last.
    pub epoch: u32,
}

/// Loads `http://{proxy}/status`, checks what it shows, and writes `status.html` (the rendered
/// DOM) and `status.png` into `out`.
pub async fn check(trace: &Trace, proxy: SocketAddr, expected: &Expected, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let chromium = std::env::var("FCC_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    ensure!(
        Path::new(&chromium).exists(),
        "--status-page needs headless Chromium at {chromium} (Debian's `chromium` package; FCC_CHROMIUM names another)"
    );
    let url = format!("http://{proxy}/status");
    let profile = tempfile::tempdir()?;
    let dom = tokio::task::spawn_blocking({
        let (chromium, url, profile) = (chromium.clone(), url.clone(), profile.path().to_owned());
        move || headless(&chromium, &profile, &["--dump-dom".into(), url])
    })
    .await??;
    let dom = String::from_utf8(dom.stdout).context("the DOM Chromium dumped is not UTF-8")?;
    std::fs::write(out.join("status.html"), &dom)?;
    // What the page read, read again now by us: the devnet is idle, so nothing moved since.
    let client = reqwest::Client::new();
    let data: Value =
        client.get(format!("http://{proxy}/status/data")).send().await?.error_for_status()?.json().await?;
    let metrics = client.get(format!("http://{proxy}/metrics")).send().await?.error_for_status()?.text().await?;
    let page = Page(&dom);
    verify(&page, expected, &data, &metrics)
        .with_context(|| format!("the status page (its DOM: {})", out.join("status.html").display()))?;

    let shot = out.join("status.png");
    let screenshot = format!("--screenshot={}", shot.display());
    tokio::task::spawn_blocking({
        let profile = profile.path().to_owned();
        move || headless(&chromium, &profile, &[screenshot, "--window-size=1280,1500".into(), url])
    })
    .await??;
    let png = std::fs::read(&shot).with_context(|| format!("no screenshot at {}", shot.display()))?;
    ensure!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "the screenshot is not a PNG of a page");
    trace.step(format!(
        "the live TEE's status page, rendered in headless Chromium, shows its id, platform, verdict, epoch {}, \
         queue and {} recent actions as the proxy's data and metrics say; screenshot {}",
        expected.epoch,
        page.attr("recent", "data-count").unwrap_or_default(),
        shot.display()
    ));
    Ok(())
}

/// Runs headless Chromium with the flags a closed network needs (no background connections)
/// and enough virtual time for the page's requests and first render.
fn headless(chromium: &str, profile: &Path, args: &[String]) -> Result<Output> {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .with_context(|| format!("starting {chromium}"))?;
    if !out.status.success() {
        bail!("{chromium} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(out)
}

/// The rendered DOM, read by the `data-*` attributes the page puts on what it shows.
struct Page<'a>(&'a str);

impl Page<'_> {
    /// The start tag carrying `data-field="name"` (or another `data-…` key).
    fn tag(&self, key: &str, name: &str) -> Option<(usize, &str)> {
        let at = self.0.find(&format!("{key}=\"{name}\""))?;
        let start = self.0[..at].rfind('<')?;
        let end = at + self.0[at..].find('>')?;
        Some((end + 1, &self.0[start..=end]))
    }

    /// The text of the element carrying `data-field="name"` (up to its first child tag).
    fn field(&self, name: &str) -> Result<String> {
        let (after, _) = self.tag("data-field", name).with_context(|| format!("no element shows {name}"))?;
        let text = &self.0[after..after + self.0[after..].find('<').unwrap_or(0)];
        Ok(text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    }

    /// An attribute of the element carrying `data-field="name"`.
    fn attr(&self, name: &str, attr: &str) -> Option<String> {
        attribute(self.tag("data-field", name)?.1, attr)
    }

    /// Every start tag with `data-id=` (the recent actions' rows), in order: (id, state).
    fn rows(&self) -> Vec<(String, String)> {
        self.0
            .match_indices("<tr ")
            .filter_map(|(at, _)| {
                let tag = &self.0[at..at + self.0[at..].find('>')?];
                Some((attribute(tag, "data-id")?, attribute(tag, "data-state")?))
            })
            .collect()
    }

    /// `data-count` of the chart of `histogram`.
    fn chart_count(&self, histogram: &str) -> Option<u64> {
        attribute(self.tag("data-chart", histogram)?.1, "data-count")?.parse().ok()
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[at..at + tag[at..].find('"')?].to_owned())
}

fn verify(page: &Page, expected: &Expected, data: &Value, metrics: &str) -> Result<()> {
    ensure!(page.0.contains("data-loaded=\"true\""), "the page never loaded its data: {}", page.field("error")?);
    let same = |name: &str, want: String| -> Result<()> {
        let shown = page.field(name)?;
        ensure!(shown == want, "{name}: the page shows {shown:?}, expected {want:?}");
        Ok(())
    };
    same("tee.teeId", format!("{:#x}", expected.tee))?;
    same("tee.platform", "Plain".into())?;
    same("guestsConnected", "1".into())?;
    same("policy.trustedEpoch", expected.epoch.to_string())?;
    same("policy.latestEpoch", expected.epoch.to_string())?;
    same("policy.source", "chain".into())?;
    same("policy.verdict", "in step".into())?;
    same("queue.open", "0".into())?;
    same("queue.pending", "0".into())?;
    same("queue.results", data["queue"]["results"].to_string())?;
    let verdict = page.field("attestation.verdict")?;
    ensure!(verdict.starts_with("accepted (simulated"), "attestation verdict shown: {verdict:?}");
    let measurement = page.field("attestation.measurementHex")?;
    ensure!(
        data["attestation"]["measurementHex"].as_str() == Some(measurement.as_str()) && measurement.len() == 96,
        "measurement shown: {measurement:?}"
    );
    let block = page.field("policy.chainBlock")?.parse::<u64>().context("chain block shown")?;
    ensure!(block > 0, "no chain block shown");

    // The rows: the data's actions, in its order, each with its state.
    let rows = page.rows();
    let want: Vec<(String, String)> = data["recent"]
        .as_array()
        .context("recent")?
        .iter()
        .map(|r| (r["id"].as_str().unwrap_or_default().to_owned(), r["state"].as_str().unwrap_or_default().to_owned()))
        .collect();
    ensure!(!want.is_empty(), "the proxy lists no recent action");
    ensure!(rows == want, "recent actions shown {rows:?}, the data says {want:?}");
    ensure!(rows.iter().all(|(_, s)| s == "done"), "an action not done (refused or unanswered) is shown: {rows:?}");

    // The charts: the metrics' counts, and something observed where the devnet worked.
    for h in ["vote_seconds", "open_to_queued_seconds", "queued_to_result_seconds", "guest_action_seconds"] {
        let line = format!("fcc_proxy_{h}_count ");
        let count: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .with_context(|| format!("{h} not in /metrics"))?
            .trim()
            .parse()?;
        let shown = page.chart_count(h).with_context(|| format!("no chart of {h}"))?;
        ensure!(shown == count, "{h}: the chart counts {shown}, the metrics {count}");
        ensure!(count > 0 || h == "open_to_queued_seconds", "{h}: nothing observed");
        let text = page.field(&format!("chart.{h}"))?;
        ensure!(count == 0 || text.starts_with(&format!("{count} observed")), "{h}: the chart says {text:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEE: &str = "0x1859ed10c9f5c4ecaec3fa94bd74b50823c2327e";

    /// A rendered page as Chromium dumps it (the parts `verify` reads), with `tee` shown.
    fn dom(tee: &str, rows: &[(&str, &str)], vote_count: u64) -> String {
        let m = "ab".repeat(48);
        let mut d = format!(
            r#"<body data-loaded="true"><dd class="mono" data-field="tee.teeId">{tee}</dd>
<dd data-field="tee.platform" class="">Plain</dd><dd data-field="guestsConnected" class="ok">1</dd>
<dd data-field="policy.trustedEpoch">101</dd><dd data-field="policy.latestEpoch">101</dd>
<dd data-field="policy.source">chain</dd><dd data-field="policy.verdict" class="ok">in step</dd>
<dd data-field="policy.chainBlock">26</dd><dd data-field="queue.open">0</dd><dd data-field="queue.pending">0</dd>
<dd data-field="queue.results">5</dd><dd data-field="attestation.verdict" class="warn">accepted (simulated: no hardware vouches)</dd>
<dd class="mono" data-field="attestation.measurementHex">{m}</dd><tbody data-field="recent" data-count="{}">"#,
            rows.len()
        );
        for (id, state) in rows {
            d.push_str(&format!(r#"<tr data-id="{id}" data-state="{state}" title="{id}"><td>x</td></tr>"#));
        }
        d.push_str("</tbody>");
        for (h, n) in [
            ("vote_seconds", vote_count),
            ("open_to_queued_seconds", 0),
            ("queued_to_result_seconds", 2),
            ("guest_action_seconds", 3),
        ] {
            d.push_str(&format!(r#"<svg data-chart="{h}" role="img" data-count="{n}"></svg><p data-field="chart.{h}">{n} observed · mean 1 ms</p>"#));
        }
        d
    }

    fn data(rows: &[(&str, &str)]) -> Value {
        let recent: Vec<Value> =
            rows.iter().map(|(id, state)| serde_json::json!({ "id": id, "state": state })).collect();
        serde_json::json!({ "queue": { "results": 5 }, "attestation": { "measurementHex": "ab".repeat(48) }, "recent": recent })
    }

    const METRICS: &str = "fcc_proxy_vote_seconds_count 42\nfcc_proxy_open_to_queued_seconds_count 0\n\
                           fcc_proxy_queued_to_result_seconds_count 2\nfcc_proxy_guest_action_seconds_count 3\n";

    #[test]
    fn a_page_showing_what_is_known_passes_and_any_difference_fails() {
        let expected = Expected { tee: TEE.parse().unwrap(), epoch: 101 };
        let rows = [("0x01", "done"), ("0x02", "done")];
        verify(&Page(&dom(TEE, &rows, 42)), &expected, &data(&rows), METRICS).unwrap();

        let other_tee = dom("0x0000000000000000000000000000000000000001", &rows, 42);
        let e = verify(&Page(&other_tee), &expected, &data(&rows), METRICS).unwrap_err();
        assert!(e.to_string().contains("tee.teeId"), "{e}");
        let swapped = [rows[1], rows[0]];
        let e = verify(&Page(&dom(TEE, &swapped, 42)), &expected, &data(&rows), METRICS).unwrap_err();
        assert!(e.to_string().contains("recent actions shown"), "{e}");
        let e = verify(&Page(&dom(TEE, &rows, 41)), &expected, &data(&rows), METRICS).unwrap_err();
        assert!(e.to_string().contains("vote_seconds: the chart counts 41"), "{e}");
        let refused = [("0x01", "refused")];
        let e = verify(&Page(&dom(TEE, &refused, 42)), &expected, &data(&refused), METRICS).unwrap_err();
        assert!(e.to_string().contains("not done"), "{e}");
        let later = Expected { epoch: 102, ..expected };
        assert!(verify(&Page(&dom(TEE, &rows, 42)), &later, &data(&rows), METRICS).is_err());
        let unloaded =
            dom(TEE, &rows, 42).replace(r#"data-loaded="true""#, "") + r#"<p data-field="error">could not read</p>"#;
        let e = verify(&Page(&unloaded), &expected, &data(&rows), METRICS).unwrap_err();
        assert!(e.to_string().contains("never loaded its data: could not read"), "{e}");
    }
}

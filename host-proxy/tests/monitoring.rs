//! The monitoring files an operator loads — `deploy/alerts.yml` with its unit tests
//! `deploy/alerts.test.yml`, and the Grafana dashboard `deploy/grafana-dashboard.json` — checked by
//! Prometheus's own `promtool` (Debian's `prometheus` package; `cargo xtask test` installs it):
//! the rules parse and fire exactly as their tests say, every dashboard query parses as PromQL,
//! and every metric either names is one the proxy exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Runs `promtool args` in `dir`; its output, or a panic that says why.
fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("promtool is needed ({e}): Debian's `prometheus` package; `cargo xtask test` installs it")
    });
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {} refused:\n{said}", args.join(" "));
    said
}

#[test]
fn alert_rules_parse_and_fire_as_their_tests_say() {
    let said = promtool(&["check", "rules", "alerts.yml"], &deploy());
    assert!(said.contains("SUCCESS: 10 rules found"), "{said}");
    promtool(&["test", "rules", "alerts.test.yml"], &deploy());
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(deploy().join("grafana-dashboard.json")).unwrap()).unwrap()
}

#[test]
fn every_dashboard_query_parses_as_promql() {
    let d = dashboard();
    assert_eq!(d["uid"], "fcc-proxy");
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    // Each query becomes a recording rule, which promtool parses.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, p) in panels.iter().enumerate() {
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "panel {i} without a title");
        assert!(p["gridPos"]["w"].as_u64().is_some_and(|w| (1..=24).contains(&w)), "panel {i} gridPos");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty()).expect("targets");
        for (j, t) in targets.iter().enumerate() {
            let expr = t["expr"].as_str().expect("expr");
            rules.push_str(&format!(
                "      - record: dashboard:panel_{i}_{j}\n        expr: {}\n",
                serde_json::json!(expr)
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.yml"), rules).unwrap();
    promtool(&["check", "rules", "dashboard.yml"], dir.path());
    // promtool can say no: a query that does not parse.
    std::fs::write(dir.path().join("broken.yml"), "groups:\n  - name: x\n    rules:\n      - record: x:y\n        expr: rate(fcc_proxy_votes_accepted_total[5m]\n").unwrap();
    let out = Command::new("promtool").args(["check", "rules", "broken.yml"]).current_dir(dir.path()).output().unwrap();
    assert!(!out.status.success(), "promtool accepted a broken query");
}

#[test]
fn every_metric_named_is_one_the_proxy_exports() {
    // The sample names of the proxy's registry: counters end in `_total`, histograms come as
    // `_bucket`, `_sum` and `_count`.
    let metrics = fcc_proxy::metrics::Metrics::new();
    // Labelled families show only once they hold a series.
    metrics.responses.get_or_create(&vec![("code".into(), "200".into())]).inc();
    metrics.links_closed.get_or_create(&vec![("reason".into(), "timeout".into())]).inc();
    let text = metrics.render();
    let mut exported = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        match kind {
            "counter" => exported.extend([format!("{name}_total")]),
            "histogram" => exported.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}"))),
            _ => exported.extend([name.to_owned()]),
        }
    }
    assert!(exported.contains("fcc_proxy_vote_seconds_bucket") && exported.contains("fcc_proxy_guests_connected"));
    for file in ["alerts.yml", "alerts.test.yml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(deploy().join(file)).unwrap();
        let named: BTreeSet<&str> = text
            .match_indices("fcc_proxy_")
            .map(|(at, _)| {
                let rest = &text[at..];
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        assert!(named.len() >= 5, "{file} names {named:?}");
        for name in named {
            assert!(exported.contains(name), "{file} names {name}, which the proxy does not export");
        }
    }
}

//! Deployment assets: the Prometheus rules (`deploy/prometheus/paybridge-alerts.yml`) and the
//! Grafana dashboard (`deploy/grafana/paybridge.json`) are well-formed, and every metric name
//! their expressions use is one paybridge exports: a string literal `"paybridge_…"` somewhere in
//! `src/**/*.rs` (a histogram's `_bucket`, `_count` and `_sum` series included), or one of the
//! [`ANNOUNCED`] names of the notification relay being built. A misspelt metric name fails here
//! instead of leaving an alert silent for good.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

const RULES: &str = "deploy/prometheus/paybridge-alerts.yml";
const DASHBOARD: &str = "deploy/grafana/paybridge.json";

/// Announced, exported by the notification relay (being built): the alerts and the dashboard
/// use them before the code does. Once the relay exports them, they are found in `src/` and
/// this list can be emptied (`announced_names_not_yet_in_the_code` says which ones are).
const ANNOUNCED: [&str; 7] = [
    "paybridge_notifications_pending",
    "paybridge_notifications_failed",
    "paybridge_notifications_oldest_pending_age_seconds",
    "paybridge_notifications_delivered_total",
    "paybridge_notification_attempts_total",
    "paybridge_callbacks_total",
    "paybridge_callback_sign_order_total",
];

/// The series Prometheus writes for one histogram.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_count", "_sum"];

/// Severities the rules may use (deploy/prometheus/paybridge-alerts.yml's header says what
/// each means).
const SEVERITIES: [&str; 2] = ["critical", "warning"];

/// The dashboard's rows.
const ROWS: [&str; 5] = [
    "Requests",
    "Translations and fallbacks",
    "Upstream health",
    "Notifications",
    "Order store",
];

/// Metrics the dashboard must show.
const DASHBOARD_METRICS: [&str; 19] = [
    "paybridge_requests_total",
    "paybridge_request_seconds_bucket",
    "paybridge_fallbacks_total",
    "paybridge_shadow_total",
    "paybridge_replays_total",
    "paybridge_outcome_resolutions_total",
    "paybridge_upstream_seconds_bucket",
    "paybridge_upstream_errors_total",
    "paybridge_upstream_retries_total",
    "paybridge_circuit_state",
    "paybridge_notifications_pending",
    "paybridge_notifications_failed",
    "paybridge_notifications_oldest_pending_age_seconds",
    "paybridge_notifications_delivered_total",
    "paybridge_notification_attempts_total",
    "paybridge_callbacks_total",
    "paybridge_callback_sign_order_total",
    "paybridge_store_errors_total",
    "paybridge_signature_failures_total",
];

/// The dashboard's datasource: the templated variable, set from the `DS_PROMETHEUS` input at
/// import. No datasource UID of a particular Grafana.
const DATASOURCE: &str = "${datasource}";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

// ---- metric names --------------------------------------------------------------------------

/// The metric names paybridge exports or has announced.
struct Known {
    /// Every `"paybridge_…"` string literal in `src/`.
    exported: BTreeSet<String>,
    /// Those registered as histograms (`histogram!(` or `describe_histogram!(`).
    histograms: BTreeSet<String>,
    announced: BTreeSet<String>,
}

impl Known {
    fn from_code() -> Known {
        let mut files = Vec::new();
        rust_files(&root().join("src"), &mut files);
        assert!(!files.is_empty(), "no Rust file under src/");
        let mut exported = BTreeSet::new();
        let mut histograms = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            exported.extend(metric_literals(&text));
            histograms.extend(histogram_literals(&text));
        }
        Known {
            exported,
            histograms,
            announced: ANNOUNCED.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Whether `name` is a series paybridge exports or has announced.
    fn resolves(&self, name: &str) -> bool {
        if self.exported.contains(name) || self.announced.contains(name) {
            return true;
        }
        HISTOGRAM_SUFFIXES.iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| self.histograms.contains(base))
        })
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every string literal of Rust source that is a whole metric name `paybridge_…`.
fn metric_literals(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (start, _) in source.match_indices("\"paybridge_") {
        let rest = &source[start + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        if rest[end..].starts_with('"') {
            found.insert(rest[..end].to_owned());
        }
    }
    found
}

/// The names registered as histograms: the first argument of `histogram!(` (which also matches
/// `describe_histogram!(`) when it is a literal.
fn histogram_literals(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (start, m) in source.match_indices("histogram!(") {
        let rest = source[start + m.len()..].trim_start();
        if let Some(rest) = rest.strip_prefix('"') {
            if let Some(end) = rest.find('"') {
                found.insert(rest[..end].to_owned());
            }
        }
    }
    found
}

/// `expr` without its string literals (label values, regular expressions): a label value that
/// looks like a metric name is not one.
fn without_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                }
            }
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The `paybridge_…` metric names a PromQL expression (or a Grafana `label_values(…)` query)
/// uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let code = without_strings(expr);
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in code.chars().chain(std::iter::once(' ')) {
        if is_name_char(c) {
            word.push(c);
        } else {
            if word.starts_with("paybridge_") {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

/// The metric names in `expr` that paybridge neither exports nor has announced.
fn unknown_metrics(expr: &str, known: &Known) -> Vec<String> {
    metric_names(expr)
        .into_iter()
        .filter(|name| !known.resolves(name))
        .collect()
}

/// Brackets, braces and parentheses outside string literals pair up.
fn balanced(expr: &str) -> bool {
    let mut stack = Vec::new();
    for c in without_strings(expr).chars() {
        match c {
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty()
}

#[test]
fn the_helper_rejects_misspelt_and_unknown_metric_names() {
    let known = Known::from_code();
    // The real names pass, a histogram's series included.
    assert_eq!(
        unknown_metrics(
            r#"histogram_quantile(0.99, sum by (le) (rate(paybridge_request_seconds_bucket{action="translate"}[5m])))"#,
            &known
        ),
        Vec::<String>::new()
    );
    assert!(unknown_metrics("paybridge_requests_total", &known).is_empty());
    assert!(unknown_metrics("max(paybridge_notifications_failed) > 0", &known).is_empty());
    // A misspelt name (`request` for `requests`) is caught.
    assert_eq!(
        unknown_metrics(
            r#"sum(rate(paybridge_request_total{code="0"}[5m])) / sum(rate(paybridge_requests_total[5m]))"#,
            &known
        ),
        vec!["paybridge_request_total".to_owned()]
    );
    // So is a misspelt announced name.
    assert_eq!(
        unknown_metrics("max(paybridge_notifications_pendng) > 0", &known),
        vec!["paybridge_notifications_pendng".to_owned()]
    );
    // A histogram suffix on a counter is no series Prometheus has.
    assert_eq!(
        unknown_metrics("rate(paybridge_requests_total_count[5m])", &known),
        vec!["paybridge_requests_total_count".to_owned()]
    );
    // A label value is not a metric name.
    assert!(metric_names(r#"up{job="paybridge_nonsense"}"#).is_empty());
    // And the bracket check works.
    assert!(balanced(r#"sum(rate(x{a="(["}[5m]))"#));
    assert!(!balanced("sum(rate(x[5m])"));
}

#[test]
fn the_code_exports_the_metrics_the_helper_relies_on() {
    let known = Known::from_code();
    for name in [
        "paybridge_requests_total",
        "paybridge_store_errors_total",
        "paybridge_circuit_state",
    ] {
        assert!(known.exported.contains(name), "src/ no longer has {name}");
    }
    for name in ["paybridge_request_seconds", "paybridge_upstream_seconds"] {
        assert!(
            known.histograms.contains(name),
            "{name} is no longer a histogram"
        );
    }
    let now_exported: Vec<&str> = ANNOUNCED
        .iter()
        .copied()
        .filter(|name| known.exported.contains(*name))
        .collect();
    if !now_exported.is_empty() {
        eprintln!(
            "announced metrics now exported by the code, drop them from ANNOUNCED: {now_exported:?}"
        );
    }
}

// ---- the Prometheus rules ------------------------------------------------------------------

fn rules() -> Vec<Yaml> {
    let file: Yaml = serde_yaml_ng::from_str(&read(RULES))
        .unwrap_or_else(|e| panic!("{RULES} is not YAML: {e}"));
    let top = file.as_mapping().expect("the rule file is a mapping");
    assert_eq!(
        top.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        vec![Some("groups")],
        "{RULES}: a rule file has `groups` only"
    );
    let groups = file["groups"].as_sequence().expect("`groups` is a list");
    assert_eq!(groups.len(), 1, "{RULES}: one group, `paybridge`");
    let group = &groups[0];
    assert_eq!(group["name"].as_str(), Some("paybridge"));
    for key in group.as_mapping().expect("a group is a mapping").keys() {
        let key = key.as_str().expect("a group key is a string");
        assert!(
            ["name", "interval", "limit", "rules"].contains(&key),
            "{RULES}: unknown group key `{key}`"
        );
    }
    let rules = group["rules"]
        .as_sequence()
        .expect("`rules` is a list")
        .clone();
    assert!(!rules.is_empty(), "{RULES}: no rule");
    rules
}

/// A Prometheus duration: one or more `<number><unit>` (`90s`, `1h30m`).
fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn is_zero_duration(text: &str) -> bool {
    text.chars().all(|c| c == '0' || c.is_ascii_alphabetic())
}

fn string_at<'a>(rule: &'a Yaml, path: &[&str], alert: &str) -> &'a str {
    let mut v = rule;
    for key in path {
        v = &v[*key];
    }
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("{RULES}: rule {alert} has no string `{}`", path.join(".")));
    assert!(
        !text.trim().is_empty(),
        "{RULES}: rule {alert}: `{}` is empty",
        path.join(".")
    );
    text
}

#[test]
fn every_rule_is_complete() {
    let mut names = BTreeSet::new();
    for rule in rules() {
        let alert = rule["alert"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("{RULES}: a rule without `alert` (no recording rules here): {rule:?}")
            })
            .to_owned();
        assert!(names.insert(alert.clone()), "{RULES}: {alert} twice");
        for key in rule.as_mapping().expect("a rule is a mapping").keys() {
            let key = key.as_str().expect("a rule key is a string");
            assert!(
                [
                    "alert",
                    "expr",
                    "for",
                    "keep_firing_for",
                    "labels",
                    "annotations"
                ]
                .contains(&key),
                "{RULES}: rule {alert}: unknown key `{key}`"
            );
        }
        let expr = string_at(&rule, &["expr"], &alert);
        assert!(balanced(expr), "{RULES}: rule {alert}: unbalanced `{expr}`");
        let wait = string_at(&rule, &["for"], &alert);
        assert!(
            is_duration(wait),
            "{RULES}: rule {alert}: `for: {wait}` is no duration"
        );
        if is_zero_duration(wait) {
            string_at(&rule, &["annotations", "fires_at_once"], &alert);
        }
        let severity = string_at(&rule, &["labels", "severity"], &alert);
        assert!(
            SEVERITIES.contains(&severity),
            "{RULES}: rule {alert}: severity `{severity}` is none of {SEVERITIES:?}"
        );
        string_at(&rule, &["annotations", "summary"], &alert);
    }
}

#[test]
fn the_rules_use_exported_metrics_only() {
    let known = Known::from_code();
    let mut used = BTreeSet::new();
    for rule in rules() {
        let alert = rule["alert"].as_str().unwrap_or("?");
        let expr = rule["expr"].as_str().unwrap_or("");
        let unknown = unknown_metrics(expr, &known);
        assert!(
            unknown.is_empty(),
            "{RULES}: rule {alert} uses metrics paybridge does not export: {unknown:?}"
        );
        used.extend(metric_names(expr));
    }
    for name in [
        "paybridge_notifications_failed",
        "paybridge_notifications_oldest_pending_age_seconds",
        "paybridge_callbacks_total",
        "paybridge_store_errors_total",
    ] {
        assert!(used.contains(name), "{RULES}: no alert on {name}");
    }
}

#[test]
fn the_operations_guide_points_to_the_rules_without_copying_them() {
    let guide = read("docs/operations.md");
    assert!(
        guide.contains(RULES),
        "docs/operations.md does not name {RULES}"
    );
    assert!(
        guide.contains(DASHBOARD),
        "docs/operations.md does not name {DASHBOARD}"
    );
    assert!(
        !guide.contains("groups:") && !guide.contains("- alert:"),
        "docs/operations.md still holds rule YAML: it belongs in {RULES}"
    );
    for rule in rules() {
        let alert = rule["alert"].as_str().expect("alert");
        assert!(
            guide.contains(&format!("`{alert}`")),
            "docs/operations.md's alert table lacks `{alert}`"
        );
    }
    let readme = read("deploy/README.md");
    for file in [RULES, DASHBOARD] {
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(
            readme.contains(name),
            "deploy/README.md does not name {name}"
        );
    }
}

// ---- the Grafana dashboard -----------------------------------------------------------------

fn dashboard() -> Json {
    serde_json::from_str(&read(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every panel, the panels of a collapsed row included.
fn panels(dashboard: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("`panels` is a list") {
        out.push(panel.clone());
        if let Some(inner) = panel.get("panels").and_then(Json::as_array) {
            out.extend(inner.iter().cloned());
        }
    }
    out
}

/// Every `datasource` reference in `value`, with where it is.
fn datasources(value: &Json, at: &str, out: &mut Vec<(String, Json)>) {
    match value {
        Json::Object(map) => {
            for (key, v) in map {
                let here = format!("{at}.{key}");
                if key == "datasource" {
                    out.push((here.clone(), v.clone()));
                }
                datasources(v, &here, out);
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                datasources(v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_dashboard_is_complete() {
    let d = dashboard();
    assert!(
        d["title"].as_str().is_some_and(|t| !t.is_empty()),
        "untitled"
    );
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "{DASHBOARD}: not a Grafana 10+ model"
    );
    assert!(
        d["id"].is_null(),
        "{DASHBOARD}: `id` belongs to one Grafana: null"
    );
    let mut rows = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("");
        assert!(
            !title.trim().is_empty(),
            "{DASHBOARD}: untitled panel {panel}"
        );
        if let Some(id) = panel["id"].as_u64() {
            assert!(ids.insert(id), "{DASHBOARD}: panel id {id} twice");
        }
        assert!(
            panel["gridPos"].is_object(),
            "{DASHBOARD}: panel `{title}` has no gridPos"
        );
        if panel["type"] == "row" {
            rows.push(title.to_owned());
            continue;
        }
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        assert!(
            !targets.is_empty(),
            "{DASHBOARD}: panel `{title}` has no target"
        );
        for target in targets {
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| !e.trim().is_empty()),
                "{DASHBOARD}: panel `{title}` has a target without `expr`"
            );
            assert!(
                target["refId"].is_string(),
                "{DASHBOARD}: panel `{title}` has a target without `refId`"
            );
        }
    }
    assert_eq!(rows, ROWS, "{DASHBOARD}: rows");
}

#[test]
fn the_dashboard_takes_its_datasource_from_a_variable() {
    let d = dashboard();
    let inputs = d["__inputs"].as_array().expect("`__inputs` is a list");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "{DASHBOARD}: no DS_PROMETHEUS datasource input"
    );
    let variables = d["templating"]["list"]
        .as_array()
        .expect("`templating.list`");
    let variable = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("no `datasource` variable");
    assert_eq!(variable["type"], "datasource");
    assert_eq!(variable["query"], "prometheus");
    assert_eq!(variable["current"]["value"], "${DS_PROMETHEUS}");

    let mut found = Vec::new();
    datasources(&d, "", &mut found);
    assert!(!found.is_empty());
    for (at, ds) in found {
        // Grafana's built-in annotation source is the only other one.
        if ds["uid"] == "-- Grafana --" && at.starts_with(".annotations") {
            continue;
        }
        assert_eq!(
            ds["uid"].as_str(),
            Some(DATASOURCE),
            "{DASHBOARD}: {at} names a datasource of one install: {ds}"
        );
        assert_eq!(ds["type"], "prometheus", "{DASHBOARD}: {at}");
    }
}

#[test]
fn the_dashboard_uses_exported_metrics_only() {
    let known = Known::from_code();
    let d = dashboard();
    let mut exprs: BTreeMap<String, String> = BTreeMap::new();
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let expr = target["expr"].as_str().unwrap_or("").to_owned();
            exprs.insert(
                format!(
                    "panel `{title}` {}",
                    target["refId"].as_str().unwrap_or("?")
                ),
                expr,
            );
        }
    }
    for variable in d["templating"]["list"].as_array().expect("templating") {
        if let Some(query) = variable["query"]["query"].as_str() {
            let name = variable["name"].as_str().unwrap_or("?");
            exprs.insert(format!("variable `{name}`"), query.to_owned());
        }
    }
    let mut used = BTreeSet::new();
    for (at, expr) in &exprs {
        assert!(balanced(expr), "{DASHBOARD}: {at}: unbalanced `{expr}`");
        let unknown = unknown_metrics(expr, &known);
        assert!(
            unknown.is_empty(),
            "{DASHBOARD}: {at} uses metrics paybridge does not export: {unknown:?}"
        );
        used.extend(metric_names(expr));
    }
    for name in DASHBOARD_METRICS {
        assert!(used.contains(name), "{DASHBOARD}: no panel shows {name}");
    }
}

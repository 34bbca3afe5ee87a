//! Packaging: `docker-compose.yml`, the `Dockerfile`, `.dockerignore`, the README and the
//! configurations under `config/compose/` agree with each other. No container engine is needed:
//! the files are read, each compose command is parsed by paybridge's own command line, and the
//! configuration it names is loaded with `Config::load`, as the container would.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use http::Uri;
use paybridge::cli::{Cli, Command};
use paybridge::config::{Config, ReplayStoreKind};
use paybridge_sandbox::Sandboxes;
use serde_yaml_ng::Value;

/// The proxy's port on the host, as the README's walk-through uses it.
const README_PROXY_PORT: u16 = 8080;
/// The compose service names the issue asks for.
const PROXY: &str = "paybridge";
const DAXPAY_SANDBOX: &str = "daxpay-sandbox";
const LEGACY_SANDBOX: &str = "legacy-sandbox";
const REDIS: &str = "redis";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

// ---- docker-compose.yml --------------------------------------------------------------------

fn compose() -> Value {
    serde_yaml_ng::from_str(&read("docker-compose.yml"))
        .unwrap_or_else(|e| panic!("docker-compose.yml is not YAML: {e}"))
}

fn services(compose: &Value) -> BTreeMap<String, Value> {
    let services = compose
        .get("services")
        .and_then(Value::as_mapping)
        .expect("docker-compose.yml has no `services` mapping");
    services
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().expect("a service name is a string").to_owned();
            (name, v.clone())
        })
        .collect()
}

fn service<'a>(services: &'a BTreeMap<String, Value>, name: &str) -> &'a Value {
    services
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no `{name}` service"))
}

fn text<'a>(service: &'a Value, key: &str) -> Option<&'a str> {
    service.get(key).and_then(Value::as_str)
}

/// A list of strings, or (compose's other form) one string split on whitespace.
fn words(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => serde_yaml_ng::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            })
            .collect(),
        other => panic!("expected a string or a list, found {other:?}"),
    }
}

/// One published port: `[host_ip:][host:]container[/proto]`, or the long syntax.
#[derive(Debug)]
struct Published {
    host_ip: Option<String>,
    host: Option<u16>,
    container: u16,
}

fn port_number(text: &str, what: &str) -> u16 {
    text.parse()
        .unwrap_or_else(|_| panic!("`{text}` in {what} is not a port number"))
}

fn published(service_name: &str, service: &Value) -> Vec<Published> {
    let Some(ports) = service.get("ports").and_then(Value::as_sequence) else {
        return Vec::new();
    };
    let what = format!("services.{service_name}.ports");
    ports
        .iter()
        .map(|entry| match entry {
            Value::String(s) => {
                let spec = s.split('/').next().unwrap_or_default();
                let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
                match parts.as_slice() {
                    [c] => Published {
                        host_ip: None,
                        host: None,
                        container: port_number(c, &what),
                    },
                    [c, h] => Published {
                        host_ip: None,
                        host: Some(port_number(h, &what)),
                        container: port_number(c, &what),
                    },
                    [c, h, ip] => Published {
                        host_ip: Some(ip.trim_matches(['[', ']']).to_owned()),
                        host: (!h.is_empty()).then(|| port_number(h, &what)),
                        container: port_number(c, &what),
                    },
                    _ => panic!("`{s}` in {what} is not a port"),
                }
            }
            Value::Number(n) => Published {
                host_ip: None,
                host: None,
                container: n.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
            },
            Value::Mapping(_) => {
                let number = |key: &str| {
                    entry.get(key).map(|v| match v {
                        Value::Number(n) => {
                            n.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0)
                        }
                        Value::String(s) => port_number(s, &what),
                        other => panic!("{what}: {key} {other:?} is not a port"),
                    })
                };
                Published {
                    host_ip: text(entry, "host_ip").map(str::to_owned),
                    host: number("published"),
                    container: number("target")
                        .unwrap_or_else(|| panic!("{what}: a long-syntax port needs a target")),
                }
            }
            other => panic!("{what}: {other:?} is not a port"),
        })
        .collect()
}

/// Where a container path comes from on the host, through the service's bind mounts.
fn host_path(service_name: &str, service: &Value, container_path: &Path) -> PathBuf {
    let volumes = service
        .get("volumes")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    for volume in &volumes {
        let (source, target) = match volume {
            Value::String(s) => {
                let mut parts = s.splitn(3, ':');
                (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                )
            }
            Value::Mapping(_) => (
                text(volume, "source").unwrap_or_default().to_owned(),
                text(volume, "target").unwrap_or_default().to_owned(),
            ),
            _ => continue,
        };
        // Only bind mounts of this repository's files can be checked.
        if !(source.starts_with("./") || source.starts_with("../") || source == ".") {
            continue;
        }
        if let Ok(rest) = container_path.strip_prefix(&target) {
            return root().join(source.trim_start_matches("./")).join(rest);
        }
    }
    panic!(
        "services.{service_name}: {} is not inside a bind mount of this repository \
         (the configuration must come from the repository, e.g. ./config/compose:/etc/paybridge:ro)",
        container_path.display()
    )
}

/// A compose service running the paybridge image: its command as paybridge parses it, and the
/// configuration that command loads.
struct Run {
    command: Command,
    config_path: PathBuf,
    config: Config,
    /// The same file's `[sandbox]` and `[legacy_sandbox]`, as the sandbox crate reads them.
    sandboxes: Sandboxes,
}

fn run_of(name: &str, service: &Value, image: &Image) -> Run {
    let entrypoint = match service.get("entrypoint") {
        Some(v) => words(v),
        None => image.entrypoint.clone(),
    };
    let command = match service.get("command") {
        Some(v) => words(v),
        None => image.cmd.clone(),
    };
    let argv: Vec<String> = entrypoint.iter().chain(&command).cloned().collect();
    let program = argv
        .first()
        .unwrap_or_else(|| panic!("services.{name}: no command at all"));
    assert!(
        Path::new(program).file_name() == Some("paybridge".as_ref()),
        "services.{name}: runs `{program}`, not paybridge (argv {argv:?})"
    );
    // The container's PAYBRIDGE_CONFIG is not this process's: demand an explicit --config.
    assert!(
        argv.iter()
            .any(|a| a == "--config" || a.starts_with("--config=")),
        "services.{name}: {argv:?} should name its configuration with --config"
    );
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| {
        panic!("services.{name}: {argv:?} is not a paybridge command line:\n{e}")
    });
    let container_config = match &cli.command {
        Command::Serve(arg) | Command::Sandbox(arg) => arg.config.clone(),
        Command::Check(args) => args.config.config.clone(),
        other => panic!("services.{name}: {other:?} is not a command a service runs"),
    };
    let config_path = host_path(name, service, &container_config);
    assert!(
        config_path.is_file(),
        "services.{name}: {} (mounted as {}) does not exist",
        config_path.display(),
        container_config.display()
    );
    let config = Config::load(&config_path).unwrap_or_else(|e| {
        panic!(
            "services.{name}: {} does not load: {e}",
            config_path.display()
        )
    });
    let sandboxes = Sandboxes::load(&config_path).unwrap_or_else(|e| {
        panic!(
            "services.{name}: {} does not load: {e}",
            config_path.display()
        )
    });
    Run {
        command: cli.command,
        config_path,
        config,
        sandboxes,
    }
}

/// The ports a configuration listens on when run by `command`.
fn listens(run: &Run) -> Vec<SocketAddr> {
    let c = &run.config;
    let s = &run.sandboxes;
    match run.command {
        Command::Serve(_) => {
            let mut addrs = vec![c.server.listen];
            addrs.extend(c.admin_listen);
            addrs.extend(s.sandbox.iter().filter(|s| s.embedded).map(|s| s.listen));
            addrs.extend(
                s.legacy_sandbox
                    .iter()
                    .filter(|s| s.embedded)
                    .map(|s| s.listen),
            );
            addrs
        }
        Command::Sandbox(_) => s
            .sandbox
            .iter()
            .map(|s| s.listen)
            .chain(s.legacy_sandbox.iter().map(|s| s.listen))
            .collect(),
        _ => Vec::new(),
    }
}

fn runs() -> (BTreeMap<String, Value>, BTreeMap<String, Run>) {
    let services = services(&compose());
    let image = image();
    let runs = [PROXY, DAXPAY_SANDBOX, LEGACY_SANDBOX]
        .into_iter()
        .map(|name| {
            (
                name.to_owned(),
                run_of(name, service(&services, name), &image),
            )
        })
        .collect();
    (services, runs)
}

/// The port a healthcheck probes: bash's `/dev/tcp/HOST/PORT`, or an `http://HOST:PORT` URL.
fn probed_port(test: &str) -> Option<u16> {
    if let Some(rest) = test.split("/dev/tcp/").nth(1) {
        let port: String = rest
            .split('/')
            .nth(1)?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return port.parse().ok();
    }
    let rest = test.split("://").nth(1)?;
    let authority = rest.split('/').next()?;
    authority.rsplit(':').next()?.parse().ok()
}

// ---- Dockerfile ----------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Stage {
    from: String,
    name: Option<String>,
    /// (instruction upper-cased, the rest of the line)
    instructions: Vec<(String, String)>,
}

/// What the final stage runs.
#[derive(Debug)]
struct Image {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

fn dockerfile() -> Vec<Stage> {
    let text = read("Dockerfile");
    // Docker drops comment lines, even inside a continued instruction, then joins continuations.
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        logical.push(current);
    }
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let word = word.to_ascii_uppercase();
        let rest = rest.trim().to_owned();
        match word.as_str() {
            "ARG" if stages.is_empty() => {
                if let Some((k, v)) = rest.split_once('=') {
                    args.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
                }
            }
            "FROM" => {
                let mut image = rest.split_whitespace();
                let mut from = image.next().unwrap_or_default().to_owned();
                for (k, v) in &args {
                    from = from
                        .replace(&format!("${{{k}}}"), v)
                        .replace(&format!("${k}"), v);
                }
                let name = match (image.next(), image.next()) {
                    (Some(as_), Some(n)) if as_.eq_ignore_ascii_case("as") => Some(n.to_owned()),
                    _ => None,
                };
                stages.push(Stage {
                    from,
                    name,
                    instructions: Vec::new(),
                });
            }
            _ => {
                if let Some(stage) = stages.last_mut() {
                    stage.instructions.push((word, rest));
                }
            }
        }
    }
    assert!(!stages.is_empty(), "the Dockerfile has no FROM");
    stages
}

/// `["a", "b"]` (exec form) or a shell-form command (run by `/bin/sh -c`).
fn exec_form(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        serde_json::from_str(rest)
            .unwrap_or_else(|e| panic!("`{rest}` is not a JSON array of strings: {e}"))
    } else {
        vec!["/bin/sh".into(), "-c".into(), rest.to_owned()]
    }
}

fn last<'a>(stage: &'a Stage, instruction: &str) -> Option<&'a str> {
    stage
        .instructions
        .iter()
        .rev()
        .find(|(w, _)| w == instruction)
        .map(|(_, rest)| rest.as_str())
}

fn image() -> Image {
    let stages = dockerfile();
    let last_stage = stages.last().expect("a stage");
    Image {
        entrypoint: last(last_stage, "ENTRYPOINT")
            .map(exec_form)
            .unwrap_or_default(),
        cmd: last(last_stage, "CMD").map(exec_form).unwrap_or_default(),
    }
}

/// The source arguments of a COPY (flags and destination left out).
fn copy_sources(rest: &str) -> Vec<String> {
    let mut parts: Vec<String> = if rest.starts_with('[') {
        serde_json::from_str(rest).unwrap_or_default()
    } else {
        rest.split_whitespace()
            .filter(|p| !p.starts_with("--"))
            .map(str::to_owned)
            .collect()
    };
    parts.pop();
    parts
}

// ---- .dockerignore -------------------------------------------------------------------------

/// Whether Docker sends `path` (relative to the context) to the daemon: the last pattern that
/// matches the path or one of its parent directories decides; `!` re-includes.
fn sent_to_docker(patterns: &[String], path: &str) -> bool {
    let components: Vec<&str> = path.split('/').collect();
    let mut included = true;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        let pattern: Vec<&str> = pattern
            .trim_start_matches("./")
            .trim_matches('/')
            .split('/')
            .collect();
        let matches = (1..=components.len()).any(|n| glob_path(&pattern, &components[..n]));
        if matches {
            included = negated;
        }
    }
    included
}

fn glob_path(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            glob_path(&pattern[1..], path) || (!path.is_empty() && glob_path(pattern, &path[1..]))
        }
        (Some(p), Some(c)) => {
            glob(p.as_bytes(), c.as_bytes()) && glob_path(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

/// `*` and `?` within one path component.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

// ---- the checks ----------------------------------------------------------------------------

#[test]
fn compose_has_the_four_services_on_one_paybridge_image() {
    let services = services(&compose());
    for name in [PROXY, DAXPAY_SANDBOX, LEGACY_SANDBOX, REDIS] {
        service(&services, name);
    }
    let redis_image = text(service(&services, REDIS), "image").unwrap_or_default();
    assert!(
        redis_image.starts_with("redis:7"),
        "services.redis: image `{redis_image}`, expected redis:7-alpine"
    );
    let proxy_image = text(service(&services, PROXY), "image");
    for name in [PROXY, DAXPAY_SANDBOX, LEGACY_SANDBOX] {
        let svc = service(&services, name);
        // Every paybridge service can build the image itself, so `docker compose up` never
        // tries to pull a paybridge image from a registry.
        let context = match svc.get("build") {
            Some(Value::String(s)) => s.clone(),
            Some(b @ Value::Mapping(_)) => text(b, "context").unwrap_or(".").to_owned(),
            _ => panic!(
                "services.{name}: no `build` (the paybridge image is built from the Dockerfile)"
            ),
        };
        assert!(
            root().join(&context).join("Dockerfile").is_file(),
            "services.{name}: build context `{context}` has no Dockerfile"
        );
        assert_eq!(
            text(svc, "image"),
            proxy_image,
            "services.{name}: the three paybridge services share one image"
        );
    }
}

#[test]
fn compose_commands_are_paybridge_subcommands_with_configurations_that_load() {
    let (_, runs) = runs();
    let proxy = &runs[PROXY];
    assert!(
        matches!(proxy.command, Command::Serve(_)),
        "services.paybridge runs {:?}, expected `serve`",
        proxy.command
    );
    // The sandboxes run in their own containers: none embedded beside the proxy.
    assert!(
        !proxy.sandboxes.sandbox.as_ref().is_some_and(|s| s.embedded)
            && !proxy
                .sandboxes
                .legacy_sandbox
                .as_ref()
                .is_some_and(|s| s.embedded),
        "{}: the proxy's configuration embeds a sandbox; the sandboxes are their own services",
        proxy.config_path.display()
    );
    assert!(
        proxy.config.admin_listen.is_some(),
        "{}: the admin listener ([admin] listen) should be on",
        proxy.config_path.display()
    );

    let dax = &runs[DAXPAY_SANDBOX];
    assert!(
        matches!(dax.command, Command::Sandbox(_)),
        "services.daxpay-sandbox runs {:?}, expected `sandbox`",
        dax.command
    );
    assert!(
        dax.sandboxes.sandbox.is_some() && dax.sandboxes.legacy_sandbox.is_none(),
        "{}: a DaxPay-only configuration has [sandbox] and no [legacy_sandbox]",
        dax.config_path.display()
    );

    let legacy = &runs[LEGACY_SANDBOX];
    assert!(
        matches!(legacy.command, Command::Sandbox(_)),
        "services.legacy-sandbox runs {:?}, expected `sandbox`",
        legacy.command
    );
    assert!(
        legacy.sandboxes.legacy_sandbox.is_some() && legacy.sandboxes.sandbox.is_none(),
        "{}: a legacy-only configuration has [legacy_sandbox] and no [sandbox]",
        legacy.config_path.display()
    );
}

#[test]
fn compose_configurations_hold_the_default_merchants_routes_and_orders() {
    let (_, runs) = runs();
    let default =
        Config::load(&root().join("config/paybridge.toml")).expect("config/paybridge.toml loads");
    let default_sandboxes = Sandboxes::load(&root().join("config/paybridge.toml"))
        .expect("config/paybridge.toml's sandboxes load");
    let merchants = |c: &Config| -> BTreeSet<String> {
        c.merchants
            .iter()
            .map(|m| {
                let d = &m.daxpay;
                format!(
                    "{} {} {} → {} {:?} {:?} {} cancel={} success={:?}",
                    m.mch_no,
                    m.app_id,
                    m.secret.expose(),
                    d.upstream.name,
                    d.mch_no,
                    d.app_id,
                    d.secret.expose(),
                    m.close_uses_cancel,
                    m.success
                )
            })
            .collect()
    };
    let routes = |c: &Config| -> Vec<String> {
        c.routing
            .rules
            .iter()
            .map(|r| r.describe())
            .chain([c.routing.default.describe()])
            .collect()
    };
    let proxy = &runs[PROXY].config;
    assert_eq!(
        merchants(proxy),
        merchants(&default),
        "merchants differ from config/paybridge.toml"
    );
    assert_eq!(
        routes(proxy),
        routes(&default),
        "routes differ from config/paybridge.toml"
    );
    for (name, u) in &default.upstreams {
        let c = proxy
            .upstreams
            .get(name)
            .unwrap_or_else(|| panic!("the compose proxy has no DaxPay upstream `{name}`"));
        assert_eq!(
            (
                c.version(),
                c.scheme.sign_type,
                c.secret.as_ref().map(|s| s.expose().to_owned())
            ),
            (
                u.version(),
                u.scheme.sign_type,
                u.secret.as_ref().map(|s| s.expose().to_owned())
            ),
            "upstream `{name}` differs from config/paybridge.toml"
        );
    }
    assert_eq!(
        proxy.legacy.keys().collect::<Vec<_>>(),
        default.legacy.keys().collect::<Vec<_>>(),
        "legacy upstreams differ from config/paybridge.toml"
    );

    let sandbox = |c: &Sandboxes| -> Vec<String> {
        let sb = c.sandbox.as_ref().expect("a [sandbox] section");
        let apps = sb.apps.iter().map(|a| {
            format!(
                "app {:?} {:?} {:?} {}",
                a.mch_no,
                a.app_id,
                a.sign_type,
                a.secret.expose()
            )
        });
        let orders = sb.orders.iter().map(|o| {
            format!(
                "order {} {} {:?} {:?} {} {} {:?} {}",
                o.order_no,
                o.biz_order_no,
                o.status,
                o.app_id,
                o.channel,
                o.method,
                o.close_delay,
                o.channel_fails
            )
        });
        let head = format!(
            "{:?} {:?} {:?} {}",
            sb.version, sb.utc_offset, sb.req_time_window, sb.sm3_is_md5
        );
        [head].into_iter().chain(apps).chain(orders).collect()
    };
    assert_eq!(
        sandbox(&runs[DAXPAY_SANDBOX].sandboxes),
        sandbox(&default_sandboxes),
        "the DaxPay sandbox differs from config/paybridge.toml's [sandbox]"
    );
    let legacy = |c: &Sandboxes| -> Vec<String> {
        let lg = c
            .legacy_sandbox
            .as_ref()
            .expect("a [legacy_sandbox] section");
        let apps = lg
            .apps
            .iter()
            .map(|a| format!("app {} {} {}", a.mch_no, a.app_id, a.secret.expose()));
        let orders = lg.orders.iter().map(|o| {
            format!(
                "order {} {} {} {} {}",
                o.pay_order_id, o.mch_order_no, o.mch_no, o.state, o.empty_body
            )
        });
        apps.chain(orders).collect()
    };
    assert_eq!(
        legacy(&runs[LEGACY_SANDBOX].sandboxes),
        legacy(&default_sandboxes),
        "the legacy sandbox differs from config/paybridge.toml's [legacy_sandbox]"
    );
}

#[test]
fn published_ports_match_the_readme_and_the_listen_addresses() {
    let (services, runs) = runs();
    let readme = read("README.md");
    for (name, run) in &runs {
        let listening = listens(run);
        for p in published(name, service(&services, name)) {
            let addr = listening
                .iter()
                .find(|a| a.port() == p.container)
                .unwrap_or_else(|| {
                    panic!(
                        "services.{name} publishes container port {} but {} listens on {:?}",
                        p.container,
                        run.config_path.display(),
                        listening
                    )
                });
            assert!(
                addr.ip().is_unspecified(),
                "{}: {addr} is published, so it must listen on 0.0.0.0 inside the container",
                run.config_path.display()
            );
        }
    }

    let proxy = &runs[PROXY];
    let ports = published(PROXY, service(&services, PROXY));
    let proxy_port = proxy.config.server.listen.port();
    let merchants = ports
        .iter()
        .find(|p| p.container == proxy_port)
        .unwrap_or_else(|| {
            panic!("services.paybridge does not publish the proxy port {proxy_port}")
        });
    assert_eq!(
        merchants.host,
        Some(README_PROXY_PORT),
        "services.paybridge: the proxy must be on the host's port {README_PROXY_PORT}, as in the README"
    );
    assert!(
        readme.contains(&format!("localhost:{README_PROXY_PORT}"))
            || readme.contains(&format!("127.0.0.1:{README_PROXY_PORT}")),
        "the README does not mention port {README_PROXY_PORT}"
    );
    // The admin listener reloads the configuration: never published beyond the host.
    if let Some(admin) = proxy.config.admin_listen {
        for p in ports.iter().filter(|p| p.container == admin.port()) {
            let ip = p.host_ip.as_deref().unwrap_or("0.0.0.0");
            assert!(
                ip == "127.0.0.1" || ip == "::1" || ip == "localhost",
                "services.paybridge publishes the admin port {} on {ip}: bind it to 127.0.0.1",
                admin.port()
            );
        }
    }
}

#[test]
fn the_proxy_reaches_the_sandboxes_and_redis_by_service_name() {
    let (services, runs) = runs();
    let proxy = &runs[PROXY];
    let depends_on: BTreeSet<String> = match service(&services, PROXY).get("depends_on") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Mapping(m)) => m
            .keys()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    };
    // (base URL, the service that must answer it, the port that service listens on)
    let target = |base_url: &str| -> (String, u16) {
        let uri: Uri = base_url.parse().expect("a validated base URL");
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        (host, port)
    };
    let mut checked = 0;
    for u in proxy.config.upstreams.values() {
        let (host, port) = target(&u.base_url);
        let run = runs.get(&host).unwrap_or_else(|| {
            panic!(
                "upstream `{}` ({}) is not a compose service running paybridge",
                u.name, u.base_url
            )
        });
        let sandbox = run.sandboxes.sandbox.as_ref().unwrap_or_else(|| {
            panic!(
                "upstream `{}` points at `{host}`, which runs no DaxPay sandbox",
                u.name
            )
        });
        assert_eq!(
            sandbox.listen.port(),
            port,
            "upstream `{}`: {} but `{host}` listens on {}",
            u.name,
            u.base_url,
            sandbox.listen
        );
        assert!(
            depends_on.contains(&host),
            "services.paybridge should depend on `{host}`"
        );
        checked += 1;
    }
    for u in proxy.config.legacy.values() {
        let (host, port) = target(&u.base_url);
        let run = runs.get(&host).unwrap_or_else(|| {
            panic!(
                "legacy upstream `{}` ({}) is not a compose service running paybridge",
                u.name, u.base_url
            )
        });
        let sandbox = run.sandboxes.legacy_sandbox.as_ref().unwrap_or_else(|| {
            panic!(
                "legacy upstream `{}` points at `{host}`, which runs no legacy sandbox",
                u.name
            )
        });
        assert_eq!(
            sandbox.listen.port(),
            port,
            "legacy upstream `{}`: {} but `{host}` listens on {}",
            u.name,
            u.base_url,
            sandbox.listen
        );
        assert!(
            depends_on.contains(&host),
            "services.paybridge should depend on `{host}`"
        );
        checked += 1;
    }
    assert_eq!(
        checked, 2,
        "the compose proxy should have one DaxPay and one legacy upstream"
    );

    match &proxy.config.replay.store {
        ReplayStoreKind::Redis { url } => {
            let rest = url.split("://").nth(1).unwrap_or_default();
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let authority = authority.rsplit('@').next().unwrap_or_default();
            let (host, port) = authority.split_once(':').unwrap_or((authority, "6379"));
            assert_eq!(
                host, REDIS,
                "[replay] store {url} should name the `redis` service"
            );
            assert_eq!(port, "6379", "[replay] store {url}: Redis listens on 6379");
            assert!(
                depends_on.contains(REDIS),
                "services.paybridge should depend on `redis`"
            );
        }
        other => panic!(
            "the compose proxy keeps replay protection in {other:?}, expected the `redis` service"
        ),
    }
}

#[test]
fn healthchecks_probe_the_ports_listened_on() {
    let (services, runs) = runs();
    for (name, run) in &runs {
        let Some(test) = service(&services, name)
            .get("healthcheck")
            .and_then(|h| h.get("test"))
        else {
            continue; // the image's HEALTHCHECK, checked below
        };
        let test = words(test).join(" ");
        let port = probed_port(&test)
            .unwrap_or_else(|| panic!("services.{name}: healthcheck `{test}` probes no port"));
        assert!(
            listens(run).iter().any(|a| a.port() == port),
            "services.{name}: the healthcheck probes port {port}, which {} does not listen on",
            run.config_path.display()
        );
    }
    let stages = dockerfile();
    let runtime = stages.last().expect("a stage");
    let health = last(runtime, "HEALTHCHECK").expect("the runtime stage has a HEALTHCHECK");
    let port =
        probed_port(health).unwrap_or_else(|| panic!("HEALTHCHECK `{health}` probes no port"));
    assert_eq!(
        port,
        runs[PROXY].config.server.listen.port(),
        "the image's HEALTHCHECK probes {port}, not the proxy's port"
    );
}

#[test]
fn dockerfile_builds_locked_and_runs_unprivileged_with_a_healthcheck() {
    let stages = dockerfile();
    assert!(
        stages.len() >= 2,
        "the Dockerfile should be multi-stage (build, then a small runtime)"
    );
    let (runtime, builders) = stages.split_last().expect("stages");

    let build = builders
        .iter()
        .find(|s| {
            s.instructions
                .iter()
                .any(|(w, rest)| w == "RUN" && rest.contains("cargo build"))
        })
        .expect("a build stage that runs `cargo build`");
    assert!(
        build.from.starts_with("rust:"),
        "the build stage is FROM {}, expected the official rust image",
        build.from
    );
    let cargo = build
        .instructions
        .iter()
        .filter(|(w, _)| w == "RUN")
        .map(|(_, rest)| rest)
        .find(|rest| rest.contains("cargo build"))
        .expect("cargo build");
    let cargo_words: Vec<&str> = cargo
        .split("cargo build")
        .nth(1)
        .unwrap_or_default()
        .split("&&")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for flag in ["--release", "--locked"] {
        assert!(
            cargo_words.contains(&flag),
            "`cargo build{}` lacks {flag}",
            cargo_words
                .iter()
                .map(|w| format!(" {w}"))
                .collect::<String>()
        );
    }
    if let Some(i) = cargo_words.iter().position(|w| *w == "--bin") {
        assert_eq!(
            cargo_words.get(i + 1),
            Some(&"paybridge"),
            "cargo build builds another binary"
        );
    }
    assert!(
        cargo.contains("target/release/paybridge")
            || runtime
                .instructions
                .iter()
                .any(|(w, rest)| w == "COPY" && rest.contains("target/release/paybridge")),
        "the release binary target/release/paybridge is not taken from the build"
    );
    let build_name = build
        .name
        .as_deref()
        .expect("the build stage is named (FROM … AS build)");
    assert!(
        runtime.instructions.iter().any(|(w, rest)| w == "COPY"
            && rest.contains(&format!("--from={build_name}"))
            && copy_sources(rest).iter().any(|s| s.ends_with("paybridge"))),
        "the runtime stage does not copy the paybridge binary from `{build_name}`"
    );

    assert!(
        !runtime.from.starts_with("rust"),
        "the runtime stage is FROM {}: a small image, not the toolchain",
        runtime.from
    );
    let user = last(runtime, "USER").expect("the runtime stage sets USER");
    let who = user.split(':').next().unwrap_or_default();
    assert!(
        who != "root" && who != "0",
        "the image runs as {user}: it must not be root"
    );
    let health = last(runtime, "HEALTHCHECK").expect("the runtime stage has a HEALTHCHECK");
    assert!(
        !health.eq_ignore_ascii_case("none") && health.contains("CMD"),
        "HEALTHCHECK `{health}` checks nothing"
    );
    let exposed: Vec<u16> = runtime
        .instructions
        .iter()
        .filter(|(w, _)| w == "EXPOSE")
        .flat_map(|(_, rest)| rest.split_whitespace())
        .filter_map(|p| p.split('/').next()?.parse().ok())
        .collect();
    assert!(
        exposed.contains(&README_PROXY_PORT),
        "EXPOSE {exposed:?} lacks the proxy's {README_PROXY_PORT}"
    );
    let image = image();
    let program = image
        .entrypoint
        .first()
        .or(image.cmd.first())
        .expect("ENTRYPOINT or CMD");
    assert!(
        Path::new(program).file_name() == Some("paybridge".as_ref()),
        "the image runs `{program}`, not paybridge"
    );
    // The image's default command works with its own default configuration.
    let argv: Vec<String> = image.entrypoint.iter().chain(&image.cmd).cloned().collect();
    Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the image's command {argv:?} does not parse:\n{e}"));
}

/// The targets `Cargo.toml` declares: Cargo refuses the manifest when one has no source file,
/// even to build another target, so the build stage needs them all.
#[derive(Debug, Default, serde::Deserialize)]
struct Manifest {
    #[serde(default)]
    bin: Vec<ManifestTarget>,
    #[serde(default)]
    bench: Vec<ManifestTarget>,
    #[serde(default)]
    test: Vec<ManifestTarget>,
    #[serde(default)]
    example: Vec<ManifestTarget>,
}

#[derive(Debug, serde::Deserialize)]
struct ManifestTarget {
    name: String,
    path: Option<String>,
}

fn declared_target_sources() -> Vec<String> {
    use figment::providers::{Format, Toml};
    let manifest: Manifest = figment::Figment::from(Toml::string(&read("Cargo.toml")))
        .extract()
        .unwrap_or_else(|e| panic!("Cargo.toml: {e}"));
    let kinds = [
        (&manifest.bin, "src/bin"),
        (&manifest.bench, "benches"),
        (&manifest.test, "tests"),
        (&manifest.example, "examples"),
    ];
    let mut sources = Vec::new();
    for (targets, dir) in kinds {
        for t in targets {
            let source = match &t.path {
                Some(p) => p.clone(),
                None => {
                    let flat = format!("{dir}/{}.rs", t.name);
                    let nested = format!("{dir}/{}/main.rs", t.name);
                    if root().join(&nested).is_file() && !root().join(&flat).is_file() {
                        nested
                    } else {
                        flat
                    }
                }
            };
            sources.push(source);
        }
    }
    sources
}

#[test]
fn dockerignore_keeps_target_out_and_the_build_inputs_in() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for path in ["target/release/paybridge", ".git/HEAD"] {
        assert!(
            !sent_to_docker(&patterns, path),
            ".dockerignore sends {path} to the Docker daemon"
        );
    }
    let clean = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_owned();
    let stages = dockerfile();
    // Everything any stage copies from the context exists and reaches the daemon.
    for stage in &stages {
        for (w, rest) in &stage.instructions {
            if (w == "COPY" || w == "ADD") && !rest.contains("--from=") {
                for source in copy_sources(rest) {
                    let path = clean(&source);
                    assert!(
                        root().join(&path).exists(),
                        "the Dockerfile copies {path}, which does not exist"
                    );
                    if path != "." && !path.is_empty() {
                        assert!(
                            sent_to_docker(&patterns, &path),
                            ".dockerignore keeps {path} out of the build context"
                        );
                    }
                }
            }
        }
    }
    // The stage that runs `cargo build` gets the manifest, the lock file, the library and
    // every declared target's source.
    let build = stages
        .iter()
        .find(|s| {
            s.instructions
                .iter()
                .any(|(w, rest)| w == "RUN" && rest.contains("cargo build"))
        })
        .expect("a stage that runs `cargo build`");
    let copied: Vec<String> = build
        .instructions
        .iter()
        .filter(|(w, rest)| (w == "COPY" || w == "ADD") && !rest.contains("--from="))
        .flat_map(|(_, rest)| copy_sources(rest))
        .map(|s| clean(&s))
        .collect();
    let mut needed: Vec<String> = ["Cargo.toml", "Cargo.lock", "src/main.rs", "src/lib.rs"]
        .map(str::to_owned)
        .to_vec();
    needed.extend(declared_target_sources());
    for path in needed {
        let path = clean(&path);
        assert!(
            root().join(&path).is_file(),
            "{path} (needed by Cargo.toml) does not exist"
        );
        assert!(
            sent_to_docker(&patterns, &path),
            ".dockerignore keeps {path} out of the build context, and Cargo needs it"
        );
        assert!(
            copied.iter().any(|c| c == "."
                || c.is_empty()
                || *c == path
                || path.starts_with(&format!("{c}/"))),
            "the build stage does not copy {path} (copies {copied:?}), and Cargo needs it"
        );
    }
}

#[test]
fn readme_tells_how_to_run_with_docker_and_links_the_docs() {
    let readme = read("README.md");
    assert!(
        readme.contains("docker compose up"),
        "the README does not mention `docker compose up`"
    );
    for doc in ["docs/configuration.md", "docs/operations.md"] {
        assert!(
            readme.contains(&format!("({doc})")),
            "the README does not link {doc}"
        );
        assert!(root().join(doc).is_file(), "{doc} does not exist");
    }
}

/// Every key of the configuration as written (src/config/raw.rs, and the sandbox crate's
/// crates/sandbox/src/config/raw.rs for its two sections) is documented.
#[test]
fn configuration_doc_names_every_key() {
    let raw = read("src/config/raw.rs") + &read("crates/sandbox/src/config/raw.rs");
    let doc = read("docs/configuration.md");
    let mut missing = Vec::new();
    for line in raw.lines() {
        let line = line.trim();
        let Some(field) = line
            .strip_prefix("pub ")
            .and_then(|l| l.split_once(':'))
            .map(|(f, _)| f.trim())
        else {
            continue;
        };
        if field.is_empty()
            || !field
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        // Named as a key: `field`, a section header [field] / [[field]] / [x.field], or field = ….
        let named = [
            format!("`{field}`"),
            format!("[{field}]"),
            format!(".{field}]"),
            format!("{field} = "),
        ];
        if !named.iter().any(|n| doc.contains(n.as_str())) {
            missing.push(field.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document {missing:?} (the raw.rs files)"
    );
}

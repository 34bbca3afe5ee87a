//! Binary-only glue: the sandboxes of `paybridge-sandbox` as the library's [`Sides`]. They read
//! the `[sandbox]` and `[legacy_sandbox]` sections of the same configuration file (and their
//! `PAYBRIDGE_SANDBOX__*` / `PAYBRIDGE_LEGACY_SANDBOX__*` overrides) themselves.

use std::net::SocketAddr;
use std::path::Path;

use paybridge::side::{SideService, Sides};
use paybridge_sandbox::{LegacySandbox, Sandbox, Sandboxes};

/// The sandboxes, as side services.
pub static SANDBOXES: SandboxSides = SandboxSides;

#[derive(Debug, Clone, Copy)]
pub struct SandboxSides;

impl Sides for SandboxSides {
    fn check(&self, path: &Path) -> Result<String, String> {
        Sandboxes::load(path)
            .map(|s| s.summary())
            .map_err(|e| e.to_string())
    }

    fn embedded(&self, path: &Path) -> std::io::Result<Vec<SideService>> {
        let sandboxes = Sandboxes::load(path).map_err(std::io::Error::other)?;
        let mut services = Vec::new();
        if let Some(sb) = sandboxes.sandbox.as_ref().filter(|s| s.embedded) {
            let (listener, addr) = bind(sb.listen)?;
            tracing::info!(listen = %addr, "embedded DaxPay sandbox serving");
            services.push(daxpay(listener, Sandbox::new(sb)));
        }
        if let Some(lg) = sandboxes.legacy_sandbox.as_ref().filter(|s| s.embedded) {
            let (listener, addr) = bind(lg.listen)?;
            tracing::info!(listen = %addr, "embedded legacy Jeepay sandbox serving");
            services.push(legacy(listener, LegacySandbox::new(lg)));
        }
        Ok(services)
    }

    fn standalone(&self, path: &Path) -> Result<Vec<SideService>, String> {
        let sandboxes = Sandboxes::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if sandboxes.is_empty() {
            return Err(
                "the configuration has neither a [sandbox] nor a [legacy_sandbox] section"
                    .to_owned(),
            );
        }
        let cannot = |e: std::io::Error| format!("cannot serve the sandbox: {e}");
        let mut services = Vec::new();
        if let Some(sb) = &sandboxes.sandbox {
            let (listener, addr) = bind(sb.listen).map_err(cannot)?;
            tracing::info!(listen = %addr, version = %sb.version, "DaxPay sandbox serving");
            services.push(daxpay(listener, Sandbox::new(sb)));
        }
        if let Some(lg) = &sandboxes.legacy_sandbox {
            let (listener, addr) = bind(lg.listen).map_err(cannot)?;
            tracing::info!(listen = %addr, "legacy Jeepay sandbox serving");
            services.push(legacy(listener, LegacySandbox::new(lg)));
        }
        Ok(services)
    }

    fn restart_only(&self, path: &Path) -> Vec<(&'static str, String)> {
        let Ok(sandboxes) = Sandboxes::load(path) else {
            return Vec::new();
        };
        let mut settings = Vec::new();
        if let Some(sb) = &sandboxes.sandbox {
            settings.push(("sandbox", format!("{} {}", sb.listen, sb.embedded)));
        }
        if let Some(lg) = &sandboxes.legacy_sandbox {
            settings.push(("legacy_sandbox", format!("{} {}", lg.listen, lg.embedded)));
        }
        settings
    }
}

/// Binds `addr` now (inside the runtime), so that a taken port is reported at start-up.
fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn daxpay(listener: tokio::net::TcpListener, sandbox: Sandbox) -> SideService {
    Box::new(move |stop| Box::pin(paybridge_sandbox::run(listener, sandbox, stop)))
}

fn legacy(listener: tokio::net::TcpListener, sandbox: LegacySandbox) -> SideService {
    Box::new(move |stop| Box::pin(paybridge_sandbox::run_legacy(listener, sandbox, stop)))
}

//! Services run beside the proxy that the library does not know: the `paybridge` binary plugs
//! the sandboxes in through [`Sides`]. The library starts each [`SideService`] with the proxy
//! and stops it after the proxy has drained (a sandbox may still be answering its requests).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

/// Resolves when a side service should stop accepting and drain.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bound side listener, ready to serve until its [`StopSignal`] resolves.
pub type SideService =
    Box<dyn FnOnce(StopSignal) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What the command line runs beside the proxy, configured in the same file.
pub trait Sides: Sync {
    /// Validates the file's side sections: the summary lines `check` prints, or an error naming
    /// the bad key.
    fn check(&self, path: &Path) -> Result<String, String>;

    /// Binds the side services `serve` runs beside the proxy. Called inside the runtime.
    fn embedded(&self, path: &Path) -> std::io::Result<Vec<SideService>>;

    /// Binds the side services `paybridge sandbox` runs alone; an error when there are none.
    fn standalone(&self, path: &Path) -> Result<Vec<SideService>, String>;

    /// Settings bound at start-up, by name, as comparable text: a reload that changes one is
    /// reported as needing a restart.
    fn restart_only(&self, path: &Path) -> Vec<(&'static str, String)>;
}

/// No side services: the library on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSides;

impl Sides for NoSides {
    fn check(&self, _path: &Path) -> Result<String, String> {
        Ok(String::new())
    }

    fn embedded(&self, _path: &Path) -> std::io::Result<Vec<SideService>> {
        Ok(Vec::new())
    }

    fn standalone(&self, _path: &Path) -> Result<Vec<SideService>, String> {
        Err("this build runs no side services".to_owned())
    }

    fn restart_only(&self, _path: &Path) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

//! The `paybridge serve` child process, and what /proc tells about it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::Options;

/// Kills the child when dropped (a panic, an early return, Ctrl-C), unless it already exited.
pub(crate) struct ChildGuard {
    pub(crate) child: Option<Child>,
    pub(crate) pid_file: PathBuf,
}

impl ChildGuard {
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then waits up to `grace` for a clean exit: (status, how long), or `None`.
    pub(crate) fn terminate(
        &mut self,
        grace: Duration,
    ) -> Option<(std::process::ExitStatus, Duration)> {
        let child = self.child.as_mut()?;
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                let _ = std::fs::remove_file(&self.pid_file);
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

pub(crate) fn start_child(o: &Options, config: &Path) -> std::io::Result<ChildGuard> {
    let log = std::fs::File::create(o.dir.join("paybridge.log"))?;
    let child = Command::new(&o.bin)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let pid_file = o.dir.join("paybridge.pid");
    std::fs::write(&pid_file, child.id().to_string())?;
    Ok(ChildGuard {
        child: Some(child),
        pid_file,
    })
}

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub(crate) fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

pub(crate) fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

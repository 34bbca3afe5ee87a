//! The slow upstream: a DaxPay played here that answers far too late.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cast::SLOW_DELAY;

/// Reads a request, then answers only after `SLOW_DELAY`, far past paybridge's timeout.
pub(crate) async fn slow_upstream(listener: tokio::net::TcpListener, seen: Arc<AtomicU64>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        seen.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let read = async {
                let mut total = Vec::new();
                while !total.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => total.extend_from_slice(&buf[..n]),
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
            tokio::time::sleep(SLOW_DELAY).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .await;
            let _ = stream.shutdown().await;
        });
    }
}

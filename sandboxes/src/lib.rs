//! Sandboxes of the external systems the portal talks to: real HTTP (and SMTP) services,
//! started in-process by default (or standalone with `portal sandbox`), each with fault
//! switches (down, slow, error, duplicate answers) so that tests and demos can make them
//! misbehave.

pub mod bank;
pub mod faults;
pub mod financial;
pub mod fines;
pub mod mail;
pub mod protocol;
pub mod revenue;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A sandbox listening on a local port.
pub struct RunningSandbox {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningSandbox {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `bind` (port 0 picks a free port).
pub async fn serve(router: axum::Router, bind: SocketAddr) -> std::io::Result<RunningSandbox> {
    let listener = TcpListener::bind(bind).await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox { address, task })
}

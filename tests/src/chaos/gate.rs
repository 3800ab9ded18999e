//! A switchable TCP relay between a deployment and the vendor simulator, so a round can make the
//! PMS *refuse connections* (the host is up, nothing listens on the port): closing the gate drops
//! its listener and every relayed connection, and a connect then fails with `ECONNREFUSED`, as
//! when a vendor's load balancer is gone. The simulator's faults cannot do this: it always
//! accepts the connection before it answers.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Gate {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The accept loop while the gate is open; it owns the relayed connections.
    accept: Option<JoinHandle<()>>,
}

impl Gate {
    /// Opens a gate on a free loopback port, relaying to `upstream`.
    pub async fn open(upstream: SocketAddr) -> std::io::Result<Gate> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let gate = Gate {
            addr: listener.local_addr()?,
            upstream,
            state: Mutex::new(State::default()),
        };
        gate.lock().accept = Some(tokio::spawn(relay(listener, upstream)));
        Ok(gate)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_open(&self) -> bool {
        self.lock().accept.is_some()
    }

    /// Refuses connections from now on; connections in flight are cut. Returns once the port
    /// is closed.
    pub async fn refuse(&self) {
        let task = self.lock().accept.take();
        if let Some(task) = task {
            task.abort();
            // Cancelled: the listener and the relays are dropped by now.
            let _ = task.await;
        }
    }

    /// Accepts connections again, on the same port.
    pub async fn reopen(&self) -> std::io::Result<()> {
        if self.is_open() {
            return Ok(());
        }
        // Another socket may hold the port for a moment (a relay still closing): a few tries.
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    let mut state = self.lock();
                    if state.accept.is_none() {
                        state.accept = Some(tokio::spawn(relay(listener, self.upstream)));
                    }
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("the gate's port stayed taken")))
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(task) = self.lock().accept.take() {
            task.abort();
        }
    }
}

/// Accepts and relays until aborted; aborting it drops the listener and, through the
/// `JoinSet`, every relayed connection.
async fn relay(listener: TcpListener, upstream: SocketAddr) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            // Reap finished relays so the set does not grow over a long run.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_closed_gate_refuses_connections_and_an_open_one_relays() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = upstream.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut b = [0u8; 4];
                    if s.read_exact(&mut b).await.is_ok() {
                        let _ = s.write_all(&b).await;
                    }
                });
            }
        });
        let gate = Gate::open(up).await.unwrap();
        let echo = || async {
            let mut s = TcpStream::connect(gate.addr()).await?;
            s.write_all(b"ping").await?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await?;
            Ok::<_, std::io::Error>(b)
        };
        assert_eq!(&echo().await.unwrap(), b"ping");
        gate.refuse().await;
        let refused = TcpStream::connect(gate.addr()).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        gate.reopen().await.unwrap();
        assert_eq!(&echo().await.unwrap(), b"ping");
    }
}

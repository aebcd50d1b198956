//! The accept loop of one protocol's listener: a task per connection, a back-off when
//! accepting fails (out of file descriptors and the like).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::connection::Connection;
use super::sweeper::Sweeper;
use super::{Gateway, GatewayCodec};

/// Accepts connections until `shutdown`, driving each with a fresh codec from `make_codec`.
/// Connection tasks are spawned on `tracker`, so the caller can wait for them to finish
/// (each one stops reading at `shutdown` and sends the acks of what was already committed).
pub async fn serve<C, F>(
    listener: TcpListener,
    make_codec: F,
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) where
    C: GatewayCodec,
    F: Fn() -> C + Send + Sync + 'static,
{
    let protocol = C::PROTOCOL;
    let sweeper = Arc::new(Sweeper::new(&gateway.config));
    tracker.spawn(sweeper.clone().run(shutdown.clone()));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let conn = Connection::new(
                    stream,
                    peer,
                    make_codec(),
                    gateway.clone(),
                    Sweeper::slot(&sweeper),
                );
                let span = tracing::info_span!("conn", protocol = %protocol, %peer, device = tracing::field::Empty);
                // Without a span when it is filtered out: it would still take its place in
                // every connection's future.
                if span.is_disabled() {
                    spawn_connection(&tracker, conn.run());
                } else {
                    spawn_connection(&tracker, conn.run().instrument(span));
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%protocol, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::info!(%protocol, "listener stopped accepting");
}

fn spawn_connection<F: Future<Output = ()> + Send + 'static>(tracker: &TaskTracker, task: F) {
    tracing::trace!(bytes = std::mem::size_of_val(&task), "connection task");
    tracker.spawn(task);
}

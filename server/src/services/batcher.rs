//! [`PositionBatcher`]: the bounded queue between the gateway and the one database writer.
//!
//! Group commit: the writer takes everything queued while its previous commit ran (up to
//! [`BatchConfig::max_size`] rows) and commits it at once, so a batch costs no waiting when the
//! load is light and grows with the load (one commit's duration) when it is heavy. An optional
//! linger ([`BatchConfig::max_delay`], 0 by default) waits for a batch to fill instead. Each
//! batch is written in one transaction; on PostgreSQL up to [`BatchConfig::writers`] batches
//! are in flight at once (a connection's acks still go out in order: it waits for its oldest
//! receipt first). Each submission gets a
//! [`CommitReceipt`] that resolves only after its batch committed, which is when the gateway
//! may acknowledge the position to the device. The queue is bounded: when the database is slow,
//! [`PositionBatcher::submit`] waits (backpressure) instead of growing memory. A failing
//! database is retried with backoff for as long as it takes, with `/health` degraded meanwhile;
//! nothing is acknowledged before it is stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::domain::PositionRow;
use crate::services::health::Health;
use crate::storage::Db;
use crate::storage::writer::{PositionSink, WalWatch};

/// Batching parameters.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most rows in one transaction.
    pub max_size: usize,
    /// Longest wait for a batch to fill; zero commits as soon as the writer is free.
    pub max_delay: Duration,
    /// Queue capacity, in submissions.
    pub queue_capacity: usize,
    /// Batches committed at the same time (PostgreSQL; SQLite writes one at a time).
    pub writers: usize,
}

/// The writer is gone (shut down); nothing more can be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the position writer has shut down")]
pub struct BatcherClosed;

struct Submission {
    rows: Vec<PositionRow>,
    done: Option<oneshot::Sender<()>>,
}

/// Resolves once the submitted positions are committed.
#[derive(Debug)]
pub struct CommitReceipt(oneshot::Receiver<()>);

impl Future for CommitReceipt {
    type Output = Result<(), BatcherClosed>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_err(|_| BatcherClosed))
    }
}

impl CommitReceipt {
    /// A receipt that is already resolved: for an ack that must keep its place among the
    /// pending ones although nothing of its frame was submitted (all its fixes refused).
    pub fn ready() -> CommitReceipt {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        CommitReceipt(rx)
    }

    /// Without waiting: `Some(Ok)` once committed, `Some(Err)` if the writer stopped without
    /// committing, `None` while the commit is still to come.
    pub fn try_committed(&mut self) -> Option<Result<(), BatcherClosed>> {
        match self.0.try_recv() {
            Ok(()) => Some(Ok(())),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(BatcherClosed)),
        }
    }

    /// Waits for the commit. Errs if the writer stopped before committing them (shutdown
    /// timed out): then they must not be acknowledged.
    pub async fn committed(self) -> Result<(), BatcherClosed> {
        self.0.await.map_err(|_| BatcherClosed)
    }
}

/// Handle for submitting positions; cheap to clone.
#[derive(Clone)]
pub struct PositionBatcher {
    tx: mpsc::Sender<Submission>,
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for PositionBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PositionBatcher")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish()
    }
}

impl PositionBatcher {
    /// Creates the batcher and its writer future (run it as a task). The writer stops
    /// accepting when `stop` is cancelled, writes everything already queued, and returns.
    pub fn new(
        db: Db,
        config: BatchConfig,
        health: Health,
        stop: CancellationToken,
    ) -> (PositionBatcher, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let wal = Arc::new(WalWatch::default());
        let writer = Writer {
            wal,
            db,
            config,
            health,
            rx,
            queued: queued.clone(),
        };
        (PositionBatcher { tx, queued }, writer.run(stop))
    }

    /// Queues rows (waits while the queue is full) and returns the receipt for their commit.
    pub async fn submit(&self, rows: Vec<PositionRow>) -> Result<CommitReceipt, BatcherClosed> {
        let (done, rx) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::Relaxed);
        let res = self
            .tx
            .send(Submission {
                rows,
                done: Some(done),
            })
            .await;
        if res.is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(BatcherClosed);
        }
        metrics::gauge!("vigil_batch_queue_depth").set(self.queued.load(Ordering::Relaxed) as f64);
        Ok(CommitReceipt(rx))
    }

    /// Queues rows and waits for their commit.
    pub async fn store(&self, rows: Vec<PositionRow>) -> Result<(), BatcherClosed> {
        self.submit(rows).await?.committed().await
    }

    /// Submissions waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

struct Writer {
    db: Db,
    config: BatchConfig,
    health: Health,
    rx: mpsc::Receiver<Submission>,
    queued: Arc<AtomicUsize>,
    wal: Arc<WalWatch>,
}

const HEALTH_KEY: &str = "database_writer";

/// Copies the SQLite WAL into the database file every `CHECKPOINT_EVERY`, off the commit path
/// (the checkpoint is what fsyncs); returns when `stop` is cancelled. Nothing to do on
/// PostgreSQL.
async fn checkpointer(db: Db, wal: Arc<WalWatch>, stop: CancellationToken) {
    if db.kind() != crate::storage::DatabaseKind::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match db.checkpoint().await {
            Ok(Some(frames)) => wal.observed(frames),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "WAL checkpoint failed; retried on the next tick")
            }
        }
    }
}

/// How often the SQLite WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl Writer {
    async fn run(mut self, stop: CancellationToken) {
        // SQLite: checkpoints in the background, beside the commits (see `Db::connect`).
        let checkpoints = CancellationToken::new();
        let checkpointer = tokio::spawn(checkpointer(
            self.db.clone(),
            self.wal.clone(),
            checkpoints.clone(),
        ));
        // One sink per batch that may be in flight: a free list, so that a batch is taken
        // from the queue only when a sink is free to write it (group commit).
        let writers = match self.db.kind() {
            crate::storage::DatabaseKind::Sqlite => 1,
            crate::storage::DatabaseKind::Postgres => self.config.writers.max(1),
        };
        let (free_tx, mut free_rx) = mpsc::channel(writers);
        for _ in 0..writers {
            let _ = free_tx.try_send(PositionSink::new(&self.db, self.wal.clone()));
        }
        self.run_batches(stop, &free_tx, &mut free_rx).await;
        // Every sink back: every batch taken is committed.
        drop(free_tx);
        for _ in 0..writers {
            match free_rx.recv().await {
                Some(mut sink) => sink.close().await,
                None => break,
            }
        }
        checkpoints.cancel();
        let _ = checkpointer.await;
        tracing::info!("position writer stopped: every queued position written");
    }

    async fn run_batches(
        &mut self,
        stop: CancellationToken,
        free_tx: &mpsc::Sender<PositionSink>,
        free_rx: &mut mpsc::Receiver<PositionSink>,
    ) {
        let mut closing = false;
        loop {
            // A free sink first (backpressure while every writer is busy) ...
            let Some(sink) = free_rx.recv().await else {
                break;
            };
            // ... then the first submission of the next batch (or the stop signal).
            let first = if closing {
                self.rx.recv().await
            } else {
                tokio::select! {
                    biased;
                    m = self.rx.recv() => m,
                    () = stop.cancelled() => {
                        // No new submissions; whatever is queued is still written below.
                        self.rx.close();
                        closing = true;
                        self.rx.recv().await
                    }
                }
            };
            let Some(first) = first else {
                let _ = free_tx.try_send(sink);
                break;
            };
            let mut batch: Vec<Submission> = Vec::new();
            let mut rows = first.rows.len();
            batch.push(first);
            // Group commit: whatever queued while the previous batch was being written.
            while rows < self.config.max_size {
                match self.rx.try_recv() {
                    Ok(s) => {
                        rows += s.rows.len();
                        batch.push(s);
                    }
                    Err(_) => break,
                }
            }
            if !self.config.max_delay.is_zero() && !closing {
                self.linger(&mut batch, &mut rows, &mut closing, &stop)
                    .await;
            }
            self.queued.fetch_sub(batch.len(), Ordering::Relaxed);
            metrics::gauge!("vigil_batch_queue_depth")
                .set(self.queued.load(Ordering::Relaxed) as f64);
            let health = self.health.clone();
            let free = free_tx.clone();
            tokio::spawn(async move {
                let mut sink = sink;
                write(&mut sink, &health, batch, rows).await;
                let _ = free.send(sink).await;
            });
        }
    }

    /// Waits up to `max_delay` for the batch to fill (only when a linger is configured).
    async fn linger(
        &mut self,
        batch: &mut Vec<Submission>,
        rows: &mut usize,
        closing: &mut bool,
        stop: &CancellationToken,
    ) {
        let deadline = tokio::time::sleep(self.config.max_delay);
        tokio::pin!(deadline);
        while *rows < self.config.max_size {
            match self.rx.try_recv() {
                Ok(s) => {
                    *rows += s.rows.len();
                    batch.push(s);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) if *closing => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(s) => {
                        *rows += s.rows.len();
                        batch.push(s);
                    }
                    None => break,
                },
                () = &mut deadline => break,
                () = stop.cancelled(), if !*closing => {
                    // Flush now: take what is queued, accept nothing new.
                    self.rx.close();
                    *closing = true;
                }
            }
        }
    }
}

/// Writes one batch, retrying with backoff until it commits; then fires the receipts.
async fn write(sink: &mut PositionSink, health: &Health, batch: Vec<Submission>, rows: usize) {
    let mut all: Vec<PositionRow> = Vec::with_capacity(rows);
    let mut receipts = Vec::with_capacity(batch.len());
    for s in batch {
        all.extend(s.rows);
        receipts.push(s.done);
    }
    let mut backoff = Duration::from_millis(50);
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        match sink.insert(&all).await {
            Ok(_inserted) => {
                metrics::histogram!("vigil_batch_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("vigil_batch_size").record(rows as f64);
                metrics::counter!("vigil_positions_written_total").increment(rows as u64);
                if failures > 0 {
                    tracing::info!(failures, "database writes resumed");
                    health.recover(HEALTH_KEY);
                }
                break;
            }
            Err(e) => {
                failures += 1;
                metrics::counter!("vigil_batch_retries_total").increment(1);
                tracing::warn!(error = %e, rows, failures, retry_in_ms = backoff.as_millis() as u64, "batch write failed; retrying");
                health.degrade(
                    HEALTH_KEY,
                    format!("position writes failing ({failures} attempts): {e}"),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    for done in receipts.into_iter().flatten() {
        let _ = done.send(());
    }
}

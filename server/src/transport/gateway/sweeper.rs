//! The timer wheel of one listener: idle and partial-frame deadlines of its connections,
//! and its shutdown, served by one task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::GatewayConfig;

/// Idle and partial-frame deadlines of every connection of one listener, and the listener's
/// shutdown, served by one task: a connection keeps a slot here (a due time and its task's
/// waker) instead of a timer and a shutdown future in its own state, which an idle
/// connection would hold for hours.
pub(super) struct Sweeper {
    epoch: Instant,
    /// How often due slots are looked for: deadlines fire up to this late.
    tick: Duration,
    /// The listener shut down: connections stop reading.
    stopping: AtomicBool,
    slots: Mutex<Slots>,
    /// See [`GatewayConfig::max_concurrent_logins`].
    pub(super) logins: Arc<tokio::sync::Semaphore>,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

struct Slot {
    /// Milliseconds since `epoch` at which to wake the connection (`u64::MAX`: not armed).
    due: u64,
    waker: Option<Waker>,
}

impl Sweeper {
    pub(super) fn new(config: &GatewayConfig) -> Self {
        Sweeper {
            epoch: Instant::now(),
            tick: (config.idle_timeout.min(config.frame_timeout) / 8)
                .clamp(Duration::from_millis(10), Duration::from_secs(1)),
            stopping: AtomicBool::new(false),
            slots: Mutex::new(Slots::default()),
            logins: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_logins.max(1),
            )),
        }
    }

    /// Milliseconds since the epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A slot for a new connection.
    pub(super) fn slot(this: &Arc<Sweeper>) -> TimerSlot {
        let idx = match this.slots.lock() {
            Ok(mut s) => {
                let fresh = Slot {
                    due: u64::MAX,
                    waker: None,
                };
                match s.free.pop() {
                    Some(i) => {
                        s.slots[i as usize] = fresh;
                        i
                    }
                    None => {
                        s.slots.push(fresh);
                        u32::try_from(s.slots.len() - 1).unwrap_or(u32::MAX)
                    }
                }
            }
            Err(_) => u32::MAX,
        };
        TimerSlot {
            sweeper: this.clone(),
            idx,
            armed: u64::MAX,
        }
    }

    /// Wakes connections whose slot is due, every tick, until `shutdown`; then tells every
    /// connection to stop.
    pub(super) async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let now = self.now();
            if let Ok(mut s) = self.slots.lock() {
                for slot in s.slots.iter_mut().filter(|s| s.due <= now) {
                    slot.due = u64::MAX;
                    if let Some(w) = &slot.waker {
                        w.wake_by_ref();
                    }
                }
            }
        }
        // Before the wake-ups: a connection registers its waker, then reads the flag.
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(s) = self.slots.lock() {
            for w in s.slots.iter().filter_map(|s| s.waker.as_ref()) {
                w.wake_by_ref();
            }
        }
    }
}

/// A connection's slot in its [`Sweeper`].
pub(super) struct TimerSlot {
    pub(super) sweeper: Arc<Sweeper>,
    idx: u32,
    /// The due time last written to the slot. The slot is only rewritten when the deadline
    /// moves earlier or the slot fired: a deadline pushed back by traffic costs nothing until
    /// the sweeper wakes the connection at the old one.
    armed: u64,
}

impl TimerSlot {
    pub(super) fn now(&self) -> u64 {
        self.sweeper.now()
    }

    /// Ready once `due` (milliseconds on the sweeper's clock) has passed; otherwise makes
    /// sure the sweeper wakes `cx` by then, and at shutdown.
    pub(super) fn poll_due(&mut self, cx: &mut Context<'_>, due: u64) -> Poll<()> {
        let now = self.now();
        if due <= now {
            return Poll::Ready(());
        }
        if due < self.armed || self.armed <= now {
            if let Ok(mut s) = self.sweeper.slots.lock()
                && let Some(slot) = s.slots.get_mut(self.idx as usize)
            {
                slot.due = due;
                match &mut slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
            }
            self.armed = due;
        }
        Poll::Pending
    }

    /// The listener shut down (read after [`TimerSlot::poll_due`] registered the waker).
    pub(super) fn stopping(&self) -> bool {
        self.sweeper.stopping.load(Ordering::SeqCst)
    }
}

impl Drop for TimerSlot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.sweeper.slots.lock()
            && let Some(slot) = s.slots.get_mut(self.idx as usize)
        {
            slot.due = u64::MAX;
            slot.waker = None;
            s.free.push(self.idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweeper(timeout_ms: u64) -> (Arc<Sweeper>, CancellationToken) {
        let config = GatewayConfig {
            idle_timeout: Duration::from_millis(timeout_ms),
            frame_timeout: Duration::from_millis(timeout_ms),
            ..GatewayConfig::default()
        };
        let sweeper = Arc::new(Sweeper::new(&config));
        let stop = CancellationToken::new();
        tokio::spawn(sweeper.clone().run(stop.clone()));
        (sweeper, stop)
    }

    /// A due slot wakes its connection; a deadline pushed back while armed wakes it early,
    /// and waiting goes on until the later deadline.
    #[tokio::test]
    async fn sweeper_wakes_due_slots() {
        let (sweeper, stop) = sweeper(80);
        let mut slot = Sweeper::slot(&sweeper);
        let first = slot.now() + 30;
        std::future::poll_fn(|cx| slot.poll_due(cx, first)).await;
        assert!(slot.now() >= first);
        // Armed for 60 ms ahead, then pushed back to 120 ms ahead (traffic): the sweeper
        // wakes the slot at the first, the slot re-arms for the second.
        let early = slot.now() + 60;
        let late = early + 60;
        let mut polls = 0;
        std::future::poll_fn(|cx| {
            polls += 1;
            slot.poll_due(cx, if polls == 1 { early } else { late })
        })
        .await;
        assert!(slot.now() >= late);
        assert!(polls >= 3, "{polls}");
        assert!(!slot.stopping());
        stop.cancel();
    }

    /// Shutdown wakes every slot, however far its deadline, and frees no slot twice.
    #[tokio::test]
    async fn sweeper_shutdown_wakes_everyone() {
        let (sweeper, stop) = sweeper(3_600_000);
        let mut waiting = Vec::new();
        for _ in 0..3 {
            let mut slot = Sweeper::slot(&sweeper);
            waiting.push(tokio::spawn(async move {
                let due = slot.now() + 3_600_000;
                std::future::poll_fn(|cx| {
                    if slot.poll_due(cx, due).is_ready() || slot.stopping() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                slot.stopping()
            }));
        }
        tokio::task::yield_now().await;
        stop.cancel();
        for w in waiting {
            assert!(w.await.unwrap());
        }
        let slots = sweeper.slots.lock().unwrap();
        assert_eq!(slots.free.len(), 3);
        assert!(slots.slots.iter().all(|s| s.waker.is_none()));
    }
}

//! The session registry: which connection currently speaks for which device, so that later
//! features (commands, alarms) can reach a device. A device that reconnects replaces its old
//! session, which is told to close.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use protocol::{Command, CommandError, CommandProfile, Correlation, DeviceId, Protocol};
use tokio::sync::oneshot;

/// A command for the connection of one device.
#[derive(Debug)]
pub struct SessionCommand {
    /// What to send.
    pub command: Command,
    /// The device family's command texts.
    pub profile: CommandProfile,
    /// Told what the reply will be matched on, or why it could not be encoded.
    pub reply: oneshot::Sender<Result<Correlation, CommandError>>,
}

/// Why a command could not be handed to a device.
#[derive(Debug, thiserror::Error)]
pub enum SendCommandError {
    /// The device has no open session.
    #[error("device {0} is not connected")]
    Offline(String),
    /// The session closed before it took the command.
    #[error("the session of device {0} closed")]
    Closed(String),
    /// The protocol cannot express the command.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// A live session as the registry and its connection share it: who it is, and its mailbox
/// (commands and the "replaced" flag), in one small allocation (an idle device connection
/// holds it for hours; a channel plus a cancellation token cost several times as much). It
/// is polled, not awaited, so that the connection's idle state holds no notification future
/// either: the waker of the connection's task is kept here.
#[derive(Debug)]
struct Inbox {
    id: u64,
    protocol: Protocol,
    peer: SocketAddr,
    state: Mutex<InboxState>,
}

impl Inbox {
    /// Changes the state under the lock, then wakes the session (outside the lock).
    fn update<R>(&self, f: impl FnOnce(&mut InboxState) -> R) -> Option<R> {
        let (r, waker) = {
            let mut st = self.state.lock().ok()?;
            let r = f(&mut st);
            (r, st.waker.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        Some(r)
    }
}

#[derive(Debug, Default)]
struct InboxState {
    replaced: bool,
    /// The session ended: nothing reads the inbox any more.
    closed: bool,
    commands: VecDeque<Box<SessionCommand>>,
    /// Who to wake when a signal arrives.
    waker: Option<Waker>,
}

/// Something the registry told a session.
#[derive(Debug)]
pub enum SessionSignal {
    /// A newer session of the same device took over: close this one.
    Replaced,
    /// A command to send to the device.
    Command(Box<SessionCommand>),
}

/// What a connection gets when it registers: its command inbox and the signal that a newer
/// session replaced it.
#[derive(Debug)]
pub struct SessionTicket {
    /// Session id (to unregister only itself).
    pub id: u64,
    inbox: Arc<Inbox>,
}

impl SessionTicket {
    /// Waits for the next signal: replacement first, then commands in order.
    pub async fn next(&self) -> SessionSignal {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next signal if there is one; otherwise `cx` is woken when one arrives.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<SessionSignal> {
        let Ok(mut st) = self.inbox.state.lock() else {
            return Poll::Ready(SessionSignal::Replaced);
        };
        if st.replaced {
            return Poll::Ready(SessionSignal::Replaced);
        }
        if let Some(c) = st.commands.pop_front() {
            return Poll::Ready(SessionSignal::Command(c));
        }
        match &mut st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for SessionTicket {
    fn drop(&mut self) {
        // Commands still queued are dropped with their reply senders: their callers learn
        // that the session closed.
        let queued = self.inbox.state.lock().map(|mut st| {
            st.closed = true;
            st.waker = None;
            std::mem::take(&mut st.commands)
        });
        drop(queued);
    }
}

/// A connected device, as listed by [`DeviceSessions::sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The identifier the device reports.
    pub unique_id: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Remote address.
    pub peer: SocketAddr,
}

/// Device id → live session. Cheap to clone.
#[derive(Clone, Default)]
pub struct DeviceSessions {
    // Keyed by the identifier's text, not by the 65-byte inline `DeviceId`, and the session
    // behind a pointer: the table's slots (~1.7 per session with hashbrown's growth) stay at
    // 24 bytes.
    inner: Arc<Mutex<HashMap<Box<str>, Arc<Inbox>>>>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for DeviceSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSessions")
            .field("sessions", &self.len())
            .finish()
    }
}

impl DeviceSessions {
    /// Registers a session for `unique_id`, replacing (and cancelling) an older one.
    pub fn register(
        &self,
        unique_id: DeviceId,
        protocol: Protocol,
        peer: SocketAddr,
    ) -> SessionTicket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let inbox = Arc::new(Inbox {
            id,
            protocol,
            peer,
            state: Mutex::default(),
        });
        let old = self
            .inner
            .lock()
            .ok()
            .and_then(|mut map| map.insert(unique_id.as_str().into(), inbox.clone()));
        if let Some(old) = old {
            old.update(|st| st.replaced = true);
        }
        SessionTicket { id, inbox }
    }

    /// Removes the session of `unique_id` if it is still session `id`.
    pub fn unregister(&self, unique_id: &DeviceId, id: u64) {
        if let Ok(mut map) = self.inner.lock()
            && map.get(unique_id.as_str()).is_some_and(|e| e.id == id)
        {
            map.remove(unique_id.as_str());
        }
    }

    /// Whether the device has a live session.
    pub fn is_online(&self, unique_id: &DeviceId) -> bool {
        self.inner
            .lock()
            .is_ok_and(|m| m.contains_key(unique_id.as_str()))
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no device is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live session.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.inner
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(d, e)| SessionInfo {
                        unique_id: d.to_string(),
                        protocol: e.protocol,
                        peer: e.peer,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Hands a command to the device's connection and returns what its reply will be
    /// matched on.
    pub async fn send_command(
        &self,
        unique_id: &DeviceId,
        command: Command,
        profile: CommandProfile,
    ) -> Result<Correlation, SendCommandError> {
        let inbox = self
            .inner
            .lock()
            .ok()
            .and_then(|m| m.get(unique_id.as_str()).cloned())
            .ok_or_else(|| SendCommandError::Offline(unique_id.to_string()))?;
        let (reply, rx) = oneshot::channel();
        let queued = inbox.update(|st| {
            if st.closed || st.replaced {
                return false;
            }
            st.commands.push_back(Box::new(SessionCommand {
                command,
                profile,
                reply,
            }));
            true
        });
        if queued != Some(true) {
            return Err(SendCommandError::Closed(unique_id.to_string()));
        }
        Ok(rx
            .await
            .map_err(|_| SendCommandError::Closed(unique_id.to_string()))??)
    }
}

//! `FenceIndex`: an immutable, cheaply cloned spatial-index snapshot of all fences, and
//! `SharedFenceIndex`: the lock-free-for-readers holder the server swaps snapshots in.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::error::FenceError;
use crate::fence::{Fence, FenceId, FenceKind};
use crate::grid::GridIndex;
use crate::segments::METRES_PER_DEGREE;

/// Payload bit marking a fence that has other index entries too (a split circle or a
/// corridor's chunks), so a query may meet it more than once.
const MULTI: u32 = 1 << 31;

/// A packed R-tree plus the fences it indexes.
struct Layer {
    tree: GridIndex,
    fences: Vec<Arc<Fence>>,
    by_id: HashMap<FenceId, u32>,
}

impl Layer {
    fn empty() -> Self {
        Layer {
            tree: GridIndex::default(),
            fences: Vec::new(),
            by_id: HashMap::new(),
        }
    }

    fn build(fences: Vec<Arc<Fence>>) -> Self {
        assert!(
            fences.len() < MULTI as usize,
            "too many fences for one index"
        );
        let mut entries = Vec::with_capacity(fences.len());
        let mut by_id = HashMap::with_capacity(fences.len());
        let mut boxes = Vec::new();
        for (slot, fence) in fences.iter().enumerate() {
            let slot = slot as u32;
            by_id.insert(fence.id, slot);
            boxes.clear();
            fence.shape.index_boxes(&mut boxes);
            let payload = if boxes.len() > 1 { slot | MULTI } else { slot };
            entries.extend(boxes.iter().map(|&b| (b, payload)));
        }
        Layer {
            tree: GridIndex::build(&entries),
            fences,
            by_id,
        }
    }

    /// Calls `f` once for every fence with an index box intersecting `q`.
    fn visit<'a>(&'a self, q: [f64; 4], mut f: impl FnMut(&'a Fence)) {
        // Slots of multi-entry fences already reported; spills to the heap only past 8.
        let mut seen = [0u32; 8];
        let mut seen_len = 0usize;
        let mut spill: Vec<u32> = Vec::new();
        self.tree.search(q, &mut |payload| {
            let slot = payload & !MULTI;
            if payload & MULTI != 0 {
                if seen[..seen_len].contains(&slot) || spill.contains(&slot) {
                    return;
                }
                if seen_len < seen.len() {
                    seen[seen_len] = slot;
                    seen_len += 1;
                } else {
                    spill.push(slot);
                }
            }
            f(&self.fences[slot as usize]);
        });
    }
}

/// One edit of the fence set.
// Edits are short-lived values; boxing the fence would only add an allocation per edit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FenceChange {
    /// Add a fence, or replace the one with the same id.
    Upsert(Fence),
    /// Remove the fence with this id (no-op if absent).
    Remove(FenceId),
}

/// An immutable snapshot of all fences with a spatial index (hashed grid plus packed R-tree)
/// over their bounding boxes.
///
/// Cloning is three `Arc` clones. Edits produce a new snapshot ([`FenceIndex::with_changes`])
/// and never disturb readers of the old one. Internally a large bulk-loaded base layer is
/// combined with a small overlay of recent edits (plus a set of base ids they hide), so an edit
/// costs O(overlay) instead of rebuilding the whole tree; once the overlay exceeds
/// `max(1024, 4·√n)` fences everything is rebuilt into a new base.
#[derive(Clone)]
pub struct FenceIndex {
    base: Arc<Layer>,
    overlay: Arc<Layer>,
    /// Base fences removed or replaced by the overlay.
    hidden: Arc<HashSet<FenceId>>,
}

impl Default for FenceIndex {
    fn default() -> Self {
        FenceIndex {
            base: Arc::new(Layer::empty()),
            overlay: Arc::new(Layer::empty()),
            hidden: Arc::new(HashSet::new()),
        }
    }
}

impl std::fmt::Debug for FenceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FenceIndex")
            .field("fences", &self.len())
            .field("overlay", &self.overlay.fences.len())
            .field("hidden", &self.hidden.len())
            .finish()
    }
}

impl FenceIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bulk-loads fences; rejects a repeated id.
    pub fn from_fences(fences: impl IntoIterator<Item = Fence>) -> Result<Self, FenceError> {
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        for (i, fence) in fences.into_iter().enumerate() {
            if !seen.insert(fence.id) {
                return Err(FenceError::DuplicateId {
                    at: format!("fences[{i}]"),
                    id: fence.id.0,
                });
            }
            all.push(Arc::new(fence));
        }
        Ok(FenceIndex {
            base: Arc::new(Layer::build(all)),
            ..Self::default()
        })
    }

    /// Number of fences.
    pub fn len(&self) -> usize {
        self.base.fences.len() - self.hidden.len() + self.overlay.fences.len()
    }

    /// Whether there are no fences.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fence with this id.
    pub fn get(&self, id: FenceId) -> Option<&Fence> {
        if let Some(&slot) = self.overlay.by_id.get(&id) {
            return Some(&self.overlay.fences[slot as usize]);
        }
        if self.hidden.contains(&id) {
            return None;
        }
        self.base
            .by_id
            .get(&id)
            .map(|&slot| &*self.base.fences[slot as usize])
    }

    /// Every fence, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Fence> {
        self.base
            .fences
            .iter()
            .filter(|f| !self.hidden.contains(&f.id))
            .chain(self.overlay.fences.iter())
            .map(|f| &**f)
    }

    /// A new snapshot with the edits applied; `self` is unchanged.
    pub fn with_changes(&self, changes: impl IntoIterator<Item = FenceChange>) -> FenceIndex {
        let mut overlay: Vec<Arc<Fence>> = self.overlay.fences.clone();
        let mut hidden: HashSet<FenceId> = (*self.hidden).clone();
        let mut touched = false;
        for change in changes {
            touched = true;
            let id = match &change {
                FenceChange::Upsert(f) => f.id,
                FenceChange::Remove(id) => *id,
            };
            overlay.retain(|f| f.id != id);
            if self.base.by_id.contains_key(&id) {
                hidden.insert(id);
            }
            if let FenceChange::Upsert(f) = change {
                overlay.push(Arc::new(f));
            }
        }
        if !touched {
            return self.clone();
        }
        let live_base = self.base.fences.len() - hidden.len();
        let limit = 1024.max((4.0 * ((live_base + overlay.len()) as f64).sqrt()) as usize);
        if overlay.len() + hidden.len() > limit {
            // Compact: one bulk load of everything, amortised over `limit` edits.
            let mut all: Vec<Arc<Fence>> = self
                .base
                .fences
                .iter()
                .filter(|f| !hidden.contains(&f.id))
                .cloned()
                .collect();
            all.extend(overlay);
            return FenceIndex {
                base: Arc::new(Layer::build(all)),
                overlay: Arc::new(Layer::empty()),
                hidden: Arc::new(HashSet::new()),
            };
        }
        FenceIndex {
            base: self.base.clone(),
            overlay: Arc::new(Layer::build(overlay)),
            hidden: Arc::new(hidden),
        }
    }

    /// A new snapshot with `fence` added or replacing the one with its id.
    pub fn with_upsert(&self, fence: Fence) -> FenceIndex {
        self.with_changes([FenceChange::Upsert(fence)])
    }

    /// A new snapshot without the fence `id`.
    pub fn with_removal(&self, id: FenceId) -> FenceIndex {
        self.with_changes([FenceChange::Remove(id)])
    }

    /// Calls `f` for every fence whose bounding box, widened by `margin_m`, holds the position.
    ///
    /// This is the candidate set for any question about "within `margin_m` of" the position:
    /// fences not visited are farther than `margin_m` from it. Each fence is visited once.
    pub fn for_each_candidate<'a>(
        &'a self,
        lon: f64,
        lat: f64,
        margin_m: f64,
        mut f: impl FnMut(&'a Fence),
    ) {
        let margin_m = margin_m.max(0.0);
        let dy = margin_m / METRES_PER_DEGREE * (1.0 + 1e-9);
        let cos = (lat.abs() + dy).min(90.0).to_radians().cos();
        let dx = if margin_m == 0.0 {
            0.0
        } else if cos > 1e-6 {
            dy / cos
        } else {
            360.0
        };
        let (y0, y1) = (lat - dy, lat + dy);
        let wraps = lon - dx < -180.0 || lon + dx > 180.0;
        if !wraps {
            self.visit_layers([lon - dx, y0, lon + dx, y1], &mut f);
            return;
        }
        // Query box crosses the antimeridian (rare): query both sides, then de-duplicate,
        // since a split circle may match on both.
        let mut boxes = vec![[(lon - dx).max(-180.0), y0, (lon + dx).min(180.0), y1]];
        if lon - dx < -180.0 {
            boxes.push([(lon - dx + 360.0).max(-180.0), y0, 180.0, y1]);
        }
        if lon + dx > 180.0 {
            boxes.push([-180.0, y0, (lon + dx - 360.0).min(180.0), y1]);
        }
        let mut found: Vec<&'a Fence> = Vec::new();
        for &q in &boxes {
            self.visit_layers(q, &mut |fence| found.push(fence));
        }
        found.sort_by_key(|fence| fence.id);
        found.dedup_by_key(|fence| fence.id);
        found.into_iter().for_each(f);
    }

    fn visit_layers<'a>(&'a self, q: [f64; 4], f: &mut impl FnMut(&'a Fence)) {
        if self.hidden.is_empty() {
            self.base.visit(q, &mut *f);
        } else {
            self.base.visit(q, |fence| {
                if !self.hidden.contains(&fence.id) {
                    f(fence)
                }
            });
        }
        if !self.overlay.fences.is_empty() {
            self.overlay.visit(q, &mut *f);
        }
    }

    /// Calls `f` for every fence accepted by `filter` that contains the position.
    pub fn for_each_containing<'a>(
        &'a self,
        lon: f64,
        lat: f64,
        mut filter: impl FnMut(&Fence) -> bool,
        mut f: impl FnMut(&'a Fence),
    ) {
        self.for_each_candidate(lon, lat, 0.0, |fence| {
            if filter(fence) && fence.contains(lon, lat) {
                f(fence)
            }
        });
    }

    /// Every fence containing the position (boundary counts as inside).
    pub fn query(&self, lon: f64, lat: f64) -> Vec<&Fence> {
        let mut out = Vec::new();
        self.for_each_containing(lon, lat, |_| true, |f| out.push(f));
        out
    }

    /// Every fence in the set S (given as a predicate) containing the position; use this when
    /// S is large (a tenant's or group's fences), since the index prunes first.
    pub fn query_where(
        &self,
        lon: f64,
        lat: f64,
        in_set: impl FnMut(&Fence) -> bool,
    ) -> Vec<&Fence> {
        let mut out = Vec::new();
        self.for_each_containing(lon, lat, in_set, |f| out.push(f));
        out
    }

    /// Every fence among `ids` containing the position; direct look-ups, best when S is small
    /// (a device's handful of assigned fences). Unknown ids are skipped.
    pub fn query_among(&self, lon: f64, lat: f64, ids: &[FenceId]) -> Vec<&Fence> {
        ids.iter()
            .filter_map(|&id| self.get(id))
            .filter(|f| f.contains(lon, lat))
            .collect()
    }

    /// Jurisdiction fences containing the position among those `filter` accepts (e.g. a tenant).
    pub fn jurisdictions(
        &self,
        lon: f64,
        lat: f64,
        mut filter: impl FnMut(&Fence) -> bool,
    ) -> Vec<&Fence> {
        self.query_where(lon, lat, |f| f.kind == FenceKind::Jurisdiction && filter(f))
    }

    /// Reference answer by linear scan over every fence (tests and benchmark baseline).
    pub fn query_linear(&self, lon: f64, lat: f64) -> Vec<&Fence> {
        self.iter().filter(|f| f.contains(lon, lat)).collect()
    }
}

/// The server's shared fence set: readers get the current snapshot without blocking, writers
/// (serialised among themselves) publish a new snapshot with an atomic pointer swap.
pub struct SharedFenceIndex {
    current: ArcSwap<FenceIndex>,
    writer: Mutex<()>,
}

impl SharedFenceIndex {
    /// Starts from `index`.
    pub fn new(index: FenceIndex) -> Self {
        SharedFenceIndex {
            current: ArcSwap::from_pointee(index),
            writer: Mutex::new(()),
        }
    }

    /// The current snapshot; hold it for one batch of fixes, not forever.
    pub fn snapshot(&self) -> Arc<FenceIndex> {
        self.current.load_full()
    }

    /// Applies edits and publishes the result; concurrent readers keep their old snapshot.
    pub fn apply(&self, changes: impl IntoIterator<Item = FenceChange>) {
        // A poisoned lock only means another writer panicked; the snapshot itself is intact.
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let next = self.current.load().with_changes(changes);
        self.current.store(Arc::new(next));
    }

    /// Adds or replaces one fence.
    pub fn upsert(&self, fence: Fence) {
        self.apply([FenceChange::Upsert(fence)]);
    }

    /// Removes one fence.
    pub fn remove(&self, id: FenceId) {
        self.apply([FenceChange::Remove(id)]);
    }

    /// Replaces the whole set (e.g. after reloading from the database).
    pub fn replace_all(&self, index: FenceIndex) {
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.current.store(Arc::new(index));
    }
}

impl std::fmt::Debug for SharedFenceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedFenceIndex")
            .field(&*self.current.load())
            .finish()
    }
}

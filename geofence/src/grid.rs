//! Hashed uniform grid over index boxes, for point-sized queries.
//!
//! Each box is listed in every cell it overlaps (cell side = the median box extent), so a
//! point query reads one hash slot and one short contiguous list of boxes whose length is
//! about the number of answers, wherever the data is dense. Boxes spanning more than
//! [`MAX_CELLS`] cells (rare, large fences) go to a [`PackedTree`] instead, so replication
//! stays bounded. Cells exist only where boxes are, so fences spread over the world cost no
//! more than fences in one province.

use crate::packed::{Box32, PackedTree, intersects, round_out};

/// Boxes spanning more cells than this are kept in the packed tree.
const MAX_CELLS: i64 = 64;

/// Smallest cell side (degrees, ~200 m): keeps a query widened by a poor fix accuracy (say
/// 1 km) to about ten by ten cells even when the fences are tiny.
const MIN_CELL: f64 = 0.002;

/// One listed box: `f32` box (rounded outward) and the caller's payload.
#[derive(Debug, Clone, Copy)]
struct Item {
    b: Box32,
    payload: u32,
}

/// One hash slot: cell key and its range in `items`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: u64,
    start: u32,
    end: u32,
}

const EMPTY: u64 = u64::MAX;

/// Grid of cell lists plus a packed tree for large boxes.
#[derive(Debug, Clone, Default)]
pub(crate) struct GridIndex {
    inv_cell: f64,
    /// Open addressing, linear probing, power-of-two length.
    table: Vec<Slot>,
    items: Vec<Item>,
    large: PackedTree,
}

fn key(cx: i64, cy: i64) -> u64 {
    ((cy as u32 as u64) << 32) | (cx as u32 as u64)
}

impl GridIndex {
    /// Builds the index over `(box, payload)` items.
    pub(crate) fn build(items: &[([f64; 4], u32)]) -> Self {
        if items.is_empty() {
            return GridIndex::default();
        }
        let boxes: Vec<Box32> = items.iter().map(|(b, _)| round_out(*b)).collect();
        let mut extents: Vec<f64> = boxes
            .iter()
            .map(|b| f64::from(b[2] - b[0]).max(f64::from(b[3] - b[1])))
            .collect();
        let mid = extents.len() / 2;
        let cell = *extents.select_nth_unstable_by(mid, f64::total_cmp).1;
        let inv_cell = 1.0 / cell.clamp(MIN_CELL, 10.0);
        let cell_of = |v: f32| cell_of(v, inv_cell);

        let mut listed: Vec<(u64, u32)> = Vec::with_capacity(items.len() * 4);
        let mut large = Vec::new();
        for (i, b) in boxes.iter().enumerate() {
            let (x0, y0, x1, y1) = (cell_of(b[0]), cell_of(b[1]), cell_of(b[2]), cell_of(b[3]));
            if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS {
                large.push(items[i]);
                continue;
            }
            for cy in y0..=y1 {
                for cx in x0..=x1 {
                    listed.push((key(cx, cy), i as u32));
                }
            }
        }
        listed.sort_unstable();
        let cells = listed.chunk_by(|a, b| a.0 == b.0).count();
        let size = (cells * 2).next_power_of_two().max(2);
        let mut table = vec![
            Slot {
                key: EMPTY,
                start: 0,
                end: 0,
            };
            size
        ];
        let mut out = Vec::with_capacity(listed.len());
        for run in listed.chunk_by(|a, b| a.0 == b.0) {
            let start = out.len() as u32;
            out.extend(run.iter().map(|&(_, i)| Item {
                b: boxes[i as usize],
                payload: items[i as usize].1,
            }));
            let mut h = hash(run[0].0, size);
            while table[h].key != EMPTY {
                h = (h + 1) & (size - 1);
            }
            table[h] = Slot {
                key: run[0].0,
                start,
                end: out.len() as u32,
            };
        }
        GridIndex {
            inv_cell,
            table,
            items: out,
            large: PackedTree::build(&large),
        }
    }

    /// Calls `f` once with the payload of every item whose box intersects `q` (plus, rarely,
    /// one within an `f32` ulp of it).
    pub(crate) fn search(&self, q: [f64; 4], f: &mut impl FnMut(u32)) {
        if !self.table.is_empty() {
            let q32 = round_out(q);
            let cell_of = |v: f32| cell_of(v, self.inv_cell);
            let (x0, y0, x1, y1) = (
                cell_of(q32[0]),
                cell_of(q32[1]),
                cell_of(q32[2]),
                cell_of(q32[3]),
            );
            // An item listed in several cells is reported only from the cell holding the
            // lower-left corner of its intersection with the query box.
            let mut visit = |cx: i64, cy: i64, slot: &Slot| {
                for item in &self.items[slot.start as usize..slot.end as usize] {
                    if intersects(&item.b, &q32)
                        && cell_of(item.b[0].max(q32[0])) == cx
                        && cell_of(item.b[1].max(q32[1])) == cy
                    {
                        f(item.payload);
                    }
                }
            };
            let span = (x1 - x0 + 1).saturating_mul(y1 - y0 + 1);
            if span <= self.table.len() as i64 {
                for cy in y0..=y1 {
                    for cx in x0..=x1 {
                        if let Some(slot) = self.lookup(key(cx, cy)) {
                            visit(cx, cy, slot);
                        }
                    }
                }
            } else {
                // A query box larger than the populated grid: walk the occupied cells.
                for slot in self.table.iter().filter(|s| s.key != EMPTY) {
                    let (cx, cy) = (
                        i64::from(slot.key as u32 as i32),
                        i64::from((slot.key >> 32) as u32 as i32),
                    );
                    if (x0..=x1).contains(&cx) && (y0..=y1).contains(&cy) {
                        visit(cx, cy, slot);
                    }
                }
            }
        }
        self.large.search(q, f);
    }

    fn lookup(&self, key: u64) -> Option<&Slot> {
        let mask = self.table.len() - 1;
        let mut h = hash(key, self.table.len());
        loop {
            let slot = &self.table[h];
            if slot.key == key {
                return Some(slot);
            }
            if slot.key == EMPTY {
                return None;
            }
            h = (h + 1) & mask;
        }
    }
}

/// Cell number of coordinate `v` (degrees): offset so the value is positive and truncation
/// is `floor` (which is a library call without SSE4.1).
#[inline]
fn cell_of(v: f32, inv_cell: f64) -> i64 {
    ((f64::from(v) + 360.0) * inv_cell) as i64
}

fn hash(key: u64, size: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - size.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let mut rng = crate::synth::SynthRng::new(11);
        for n in [0usize, 1, 2, 17, 300, 3000] {
            let items: Vec<([f64; 4], u32)> = (0..n)
                .map(|i| {
                    let (x, y) = (rng.range(-180.0, 170.0), rng.range(-90.0, 80.0));
                    // Mostly small boxes, some huge (which go to the packed tree).
                    let s = if i % 10 == 0 { 10.0 } else { 0.05 };
                    let (w, h) = (rng.range(0.0, s), rng.range(0.0, s));
                    ([x, y, x + w, y + h], i as u32)
                })
                .collect();
            let grid = GridIndex::build(&items);
            for k in 0..500 {
                let (x, y) = (rng.range(-181.0, 181.0), rng.range(-91.0, 91.0));
                let d = if k % 50 == 0 {
                    100.0
                } else {
                    rng.range(0.0, 0.05)
                };
                let q = [x - d, y - d, x + d, y + d];
                let mut got = Vec::new();
                grid.search(q, &mut |p| got.push(p));
                got.sort_unstable();
                let before = got.len();
                got.dedup();
                assert_eq!(before, got.len(), "reported twice, n={n}");
                let want: Vec<u32> = items
                    .iter()
                    .filter(|(b, _)| b[0] <= q[2] && b[2] >= q[0] && b[1] <= q[3] && b[3] >= q[1])
                    .map(|&(_, p)| p)
                    .collect();
                assert!(want.iter().all(|w| got.binary_search(w).is_ok()), "n={n}");
                assert!(got.len() <= want.len() + 2, "n={n}");
            }
        }
    }
}

//! A static packed R-tree (Hilbert-sorted, flat arrays; the "flatbush" layout).
//!
//! Built once from a list of boxes and never modified. Boxes are stored as `f32` rounded
//! outward, 16 bytes each, 16 to a node: a visited node is four cache lines, against twelve
//! for rstar's enum nodes, and the whole tree is two allocations. A query may therefore
//! report a box that misses the query box by up to one `f32` ulp (~2 m at 180° longitude);
//! callers run an exact test on every result anyway.

/// Children per node.
const NODE: usize = 16;

/// Box `[min_x, min_y, max_x, max_y]` in `f32`.
pub(crate) type Box32 = [f32; 4];

/// Outward `f32` rounding of an `f64` box, so the stored box always contains the original.
pub(crate) fn round_out(b: [f64; 4]) -> Box32 {
    let down = |v: f64| {
        let f = v as f32;
        if f as f64 > v { f.next_down() } else { f }
    };
    let up = |v: f64| {
        let f = v as f32;
        if (f as f64) < v { f.next_up() } else { f }
    };
    [down(b[0]), down(b[1]), up(b[2]), up(b[3])]
}

/// Static R-tree over `(box, payload)` items.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedTree {
    /// Item boxes (Hilbert order), then each level of node boxes, root last.
    boxes: Vec<Box32>,
    /// For an item: its payload; for a node: position in `boxes` of its first child.
    refs: Vec<u32>,
    /// `level_end[l]` = end of level `l` in `boxes` (level 0 = items).
    level_end: Vec<usize>,
}

impl PackedTree {
    /// Builds the tree; items are `(box, payload)` with boxes in `f64`.
    pub(crate) fn build(items: &[([f64; 4], u32)]) -> Self {
        if items.is_empty() {
            return PackedTree::default();
        }
        let mut ext = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (b, _) in items {
            ext = [
                ext[0].min(b[0]),
                ext[1].min(b[1]),
                ext[2].max(b[2]),
                ext[3].max(b[3]),
            ];
        }
        let sx = f64::from(u16::MAX) / (ext[2] - ext[0]).max(1e-12);
        let sy = f64::from(u16::MAX) / (ext[3] - ext[1]).max(1e-12);
        let mut order: Vec<(u32, u32)> = items
            .iter()
            .enumerate()
            .map(|(i, (b, _))| {
                let x = ((((b[0] + b[2]) / 2.0 - ext[0]) * sx) as u32).min(0xFFFF);
                let y = ((((b[1] + b[3]) / 2.0 - ext[1]) * sy) as u32).min(0xFFFF);
                (hilbert(x, y), i as u32)
            })
            .collect();
        order.sort_unstable();

        let mut count = items.len();
        let mut total = count;
        while count > 1 {
            count = count.div_ceil(NODE);
            total += count;
        }
        let mut boxes = Vec::with_capacity(total);
        let mut refs = Vec::with_capacity(total);
        for &(_, i) in &order {
            let (b, payload) = items[i as usize];
            boxes.push(round_out(b));
            refs.push(payload);
        }
        let mut level_end = vec![boxes.len()];
        let mut start = 0;
        while boxes.len() - start > 1 {
            let end = boxes.len();
            for first in (start..end).step_by(NODE) {
                let mut b = [
                    f32::INFINITY,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::NEG_INFINITY,
                ];
                for c in &boxes[first..(first + NODE).min(end)] {
                    b = [
                        b[0].min(c[0]),
                        b[1].min(c[1]),
                        b[2].max(c[2]),
                        b[3].max(c[3]),
                    ];
                }
                boxes.push(b);
                refs.push(first as u32);
            }
            level_end.push(boxes.len());
            start = end;
        }
        PackedTree {
            boxes,
            refs,
            level_end,
        }
    }

    /// Calls `f` with the payload of every item whose box intersects `q` (closed boxes).
    pub(crate) fn search(&self, q: [f64; 4], f: &mut impl FnMut(u32)) {
        let Some(&root_end) = self.level_end.last() else {
            return;
        };
        let q = round_out(q);
        let root = root_end - 1;
        if !intersects(&self.boxes[root], &q) {
            return;
        }
        if self.level_end.len() == 1 {
            f(self.refs[root]);
            return;
        }
        self.visit(self.level_end.len() - 2, self.refs[root] as usize, &q, f);
    }

    /// Visits the node whose children start at `first` on `level`.
    fn visit(&self, level: usize, first: usize, q: &Box32, f: &mut impl FnMut(u32)) {
        let end = (first + NODE).min(self.level_end[level]);
        for i in first..end {
            if intersects(&self.boxes[i], q) {
                if level == 0 {
                    f(self.refs[i]);
                } else {
                    self.visit(level - 1, self.refs[i] as usize, q, f);
                }
            }
        }
    }
}

#[inline]
pub(crate) fn intersects(a: &Box32, q: &Box32) -> bool {
    a[0] <= q[2] && a[2] >= q[0] && a[1] <= q[3] && a[3] >= q[1]
}

/// Position of `(x, y)` (16-bit each) along a Hilbert curve (Warren's branch-free version,
/// as in flatbush).
fn hilbert(x: u32, y: u32) -> u32 {
    let mut a = x ^ y;
    let mut b = 0xFFFF ^ a;
    let mut c = 0xFFFF ^ (x | y);
    let mut d = x & (y ^ 0xFFFF);

    let mut aa = a | (b >> 1);
    let mut bb = (a >> 1) ^ a;
    let mut cc = ((c >> 1) ^ (b & (d >> 1))) ^ c;
    let mut dd = ((a & (c >> 1)) ^ (d >> 1)) ^ d;

    a = aa;
    b = bb;
    c = cc;
    d = dd;
    aa = (a & (a >> 2)) ^ (b & (b >> 2));
    bb = (a & (b >> 2)) ^ (b & ((a ^ b) >> 2));
    cc ^= (a & (c >> 2)) ^ (b & (d >> 2));
    dd ^= (b & (c >> 2)) ^ ((a ^ b) & (d >> 2));

    a = aa;
    b = bb;
    c = cc;
    d = dd;
    aa = (a & (a >> 4)) ^ (b & (b >> 4));
    bb = (a & (b >> 4)) ^ (b & ((a ^ b) >> 4));
    cc ^= (a & (c >> 4)) ^ (b & (d >> 4));
    dd ^= (b & (c >> 4)) ^ ((a ^ b) & (d >> 4));

    a = aa;
    b = bb;
    c = cc;
    d = dd;
    cc ^= (a & (c >> 8)) ^ (b & (d >> 8));
    dd ^= (b & (c >> 8)) ^ ((a ^ b) & (d >> 8));

    a = cc ^ (cc >> 1);
    b = dd ^ (dd >> 1);

    let mut i0 = x ^ y;
    let mut i1 = b | (0xFFFF ^ (i0 | a));

    i0 = (i0 | (i0 << 8)) & 0x00FF_00FF;
    i0 = (i0 | (i0 << 4)) & 0x0F0F_0F0F;
    i0 = (i0 | (i0 << 2)) & 0x3333_3333;
    i0 = (i0 | (i0 << 1)) & 0x5555_5555;

    i1 = (i1 | (i1 << 8)) & 0x00FF_00FF;
    i1 = (i1 | (i1 << 4)) & 0x0F0F_0F0F;
    i1 = (i1 | (i1 << 2)) & 0x3333_3333;
    i1 = (i1 | (i1 << 1)) & 0x5555_5555;

    (i1 << 1) | i0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let mut rng = crate::synth::SynthRng::new(9);
        for n in [0usize, 1, 2, 15, 16, 17, 255, 256, 257, 3000] {
            let items: Vec<([f64; 4], u32)> = (0..n)
                .map(|i| {
                    let (x, y) = (rng.range(-180.0, 179.0), rng.range(-90.0, 89.0));
                    let (w, h) = (rng.range(0.0, 1.0), rng.range(0.0, 1.0));
                    ([x, y, x + w, y + h], i as u32)
                })
                .collect();
            let tree = PackedTree::build(&items);
            for _ in 0..200 {
                let (x, y) = (rng.range(-181.0, 181.0), rng.range(-91.0, 91.0));
                let d = rng.range(0.0, 0.5);
                let q = [x - d, y - d, x + d, y + d];
                let mut got = Vec::new();
                tree.search(q, &mut |p| got.push(p));
                got.sort_unstable();
                let want: Vec<u32> = items
                    .iter()
                    .filter(|(b, _)| b[0] <= q[2] && b[2] >= q[0] && b[1] <= q[3] && b[3] >= q[1])
                    .map(|&(_, p)| p)
                    .collect();
                // f32 boxes may add a box within one ulp of the query, never lose one.
                assert!(want.iter().all(|w| got.binary_search(w).is_ok()), "n={n}");
                assert!(got.len() <= want.len() + 2, "n={n}");
            }
        }
    }
}

//! A bitmap of taken offsets, and the choice of a free one.
//!
//! It knows only offsets `0..size`; [`super::range`] maps ClusterIPs and
//! NodePorts onto them. Like upstream's allocator, a pick starts at a random
//! offset and scans forward, so concurrent apiservers rarely collide.
//!
//! ```text
//!  offset:  0 ........ band-1 | band ..................... size-1
//!           static band       | dynamic picks start here,
//!           (users choose)    | and fall back to the static band when full
//! ```

#[derive(Debug, Clone)]
pub struct Bitmap {
    words: Vec<u64>,
    size: usize,
    taken: usize,
}

impl Bitmap {
    pub fn new(size: usize) -> Self {
        Self { words: vec![0; size.div_ceil(64)], size, taken: 0 }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn taken(&self) -> usize {
        self.taken
    }

    pub fn has(&self, offset: usize) -> bool {
        offset < self.size && self.words[offset / 64] & (1 << (offset % 64)) != 0
    }

    /// Marks an offset taken; false if it already was (or is out of range).
    pub fn set(&mut self, offset: usize) -> bool {
        if offset >= self.size || self.has(offset) {
            return false;
        }
        self.words[offset / 64] |= 1 << (offset % 64);
        self.taken += 1;
        true
    }

    pub fn clear(&mut self, offset: usize) {
        if self.has(offset) {
            self.words[offset / 64] &= !(1 << (offset % 64));
            self.taken -= 1;
        }
    }

    pub fn mark(&mut self, offset: usize, taken: bool) {
        if taken {
            self.set(offset);
        } else {
            self.clear(offset);
        }
    }

    /// The first free offset in `lo..hi`, scanning from `start` and wrapping.
    fn free_in(&self, lo: usize, hi: usize, start: usize) -> Option<usize> {
        if lo >= hi {
            return None;
        }
        let start = lo + (start % (hi - lo));
        (start..hi).chain(lo..start).find(|&o| !self.has(o))
    }

    /// Picks a free offset for a dynamic request: from the upper part
    /// (`band..size`) first, then the static band (KEP-3070, KEP-3668).
    /// `seed` chooses where the scan starts.
    pub fn pick(&self, band: usize, seed: usize) -> Option<usize> {
        let band = band.min(self.size);
        self.free_in(band, self.size, seed).or_else(|| self.free_in(0, band, seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upper_band_first_then_lower() {
        let mut b = Bitmap::new(8);
        let mut picked = Vec::new();
        for seed in 0..8 {
            let o = b.pick(3, seed * 7).unwrap();
            assert!(b.set(o));
            picked.push(o);
        }
        // The five upper offsets go before any of the three static ones.
        assert!(picked[..5].iter().all(|&o| o >= 3), "{picked:?}");
        assert!(picked[5..].iter().all(|&o| o < 3), "{picked:?}");
        assert_eq!(b.pick(3, 0), None);
        assert_eq!(b.taken(), 8);
        b.clear(6);
        assert_eq!(b.pick(3, 1), Some(6));
    }

    proptest! {
        /// Picks are always free and in range; nothing is ever handed out twice;
        /// a pick fails only when every offset is taken.
        #[test]
        fn picks_never_collide(size in 1usize..300, band in 0usize..40, seeds in proptest::collection::vec(any::<usize>(), 1..400), releases in proptest::collection::vec(any::<usize>(), 0..50)) {
            let mut b = Bitmap::new(size);
            let mut held = std::collections::BTreeSet::new();
            for (i, seed) in seeds.iter().enumerate() {
                match b.pick(band, *seed) {
                    Some(o) => {
                        prop_assert!(o < size);
                        prop_assert!(held.insert(o), "offset {} handed out twice", o);
                        prop_assert!(b.set(o));
                    }
                    None => prop_assert_eq!(held.len(), size),
                }
                if let Some(r) = releases.get(i) {
                    if let Some(&o) = held.iter().nth(r % held.len().max(1)) {
                        held.remove(&o);
                        b.clear(o);
                    }
                }
                prop_assert_eq!(b.taken(), held.len());
            }
        }
    }
}

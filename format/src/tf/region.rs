//! Copying between rectangular regions of one tensor (slice reassembly and repartitioning).

/// Copies the intersection of two boxes of the same tensor. `src` holds the row-major
/// elements of box `src_box` and `dst` those of `dst_box`; each box is `(start, len)` per
/// dimension in the full tensor's coordinates, and `elem` is the bytes per element. Boxes
/// that do not intersect copy nothing.
///
/// Callers pass buffers of exactly the boxes' sizes; a shorter buffer copies only what fits
/// rather than panicking.
pub fn copy_region(src: &[u8], src_box: &[(u64, u64)], dst: &mut [u8], dst_box: &[(u64, u64)], elem: usize) {
    let rank = src_box.len();
    if dst_box.len() != rank {
        return;
    }
    let mut lo = Vec::with_capacity(rank);
    let mut hi = Vec::with_capacity(rank);
    for (&(s, l), &(d, m)) in src_box.iter().zip(dst_box) {
        let (a, b) = (s.max(d), (s + l).min(d + m));
        if a >= b {
            return;
        }
        lo.push(a);
        hi.push(b);
    }
    if rank == 0 {
        let n = elem.min(src.len()).min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        return;
    }
    // Row-major strides (in elements) of both boxes.
    let strides = |b: &[(u64, u64)]| {
        let mut s = vec![1u64; rank];
        for d in (0..rank - 1).rev() {
            s[d] = s[d + 1] * b[d + 1].1;
        }
        s
    };
    let (src_strides, dst_strides) = (strides(src_box), strides(dst_box));
    let row = (hi[rank - 1] - lo[rank - 1]) as usize * elem;
    let mut index = lo.clone();
    loop {
        let offset = |b: &[(u64, u64)], strides: &[u64]| {
            index.iter().zip(b).zip(strides).map(|((&i, &(s, _)), &st)| (i - s) * st).sum::<u64>() as usize * elem
        };
        let (so, dof) = (offset(src_box, &src_strides), offset(dst_box, &dst_strides));
        if let (Some(from), Some(to)) = (src.get(so..so + row), dst.get_mut(dof..dof + row)) {
            to.copy_from_slice(from);
        }
        // Advance the odometer over all dimensions but the last.
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < hi[d] {
                break;
            }
            index[d] = lo[d];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_and_extracts() {
        // A 4x3 tensor of bytes 0..12, split in rows 0..1 and 1..4.
        let full: Vec<u8> = (0..12).collect();
        let full_box = [(0, 4), (0, 3)];
        let a_box = [(0, 1), (0, 3)];
        let b_box = [(1, 3), (0, 3)];
        let mut out = vec![0u8; 12];
        copy_region(&full[..3], &a_box, &mut out, &full_box, 1);
        copy_region(&full[3..], &b_box, &mut out, &full_box, 1);
        assert_eq!(out, full);
        // A column box 1..3 of rows 1..3 of the second piece.
        let c_box = [(1, 2), (1, 2)];
        let mut col = vec![0u8; 4];
        copy_region(&full[3..], &b_box, &mut col, &c_box, 1);
        assert_eq!(col, vec![4, 5, 7, 8]);
        // Disjoint boxes copy nothing.
        let mut none = vec![9u8; 3];
        copy_region(&full[..3], &a_box, &mut none, &[(2, 1), (0, 3)], 1);
        assert_eq!(none, vec![9, 9, 9]);
        // Scalars copy their element.
        let mut s = vec![0u8; 4];
        copy_region(&[1, 2, 3, 4], &[], &mut s, &[], 4);
        assert_eq!(s, vec![1, 2, 3, 4]);
    }
}

//! Unit tests of `varscope_shaders`.

use super::*;

#[test]
fn desc_is_64_bytes() {
    assert_eq!(std::mem::size_of::<InitDesc>(), 64);
    assert_eq!(std::mem::size_of::<InitParams>(), 16);
    assert_eq!(std::mem::size_of::<FillParams>(), 16);
    assert_eq!(std::mem::size_of::<OptimRow>(), 48);
    assert_eq!(std::mem::size_of::<OptimParams>(), 32);
    assert_eq!(std::mem::size_of::<NormRow>(), 96);
    assert_eq!(std::mem::size_of::<RowParams>(), 16);
    assert_eq!(std::mem::size_of::<ReduceRow>(), 16);
    assert_eq!(std::mem::size_of::<UpdateRow>(), 16);
}

#[test]
fn optim_rows_start_at_workgroups() {
    let mut rows = [5u32, 64, 65].map(|count| OptimRow { count, ..Default::default() });
    let (total, tiles) = optim_tiles(&mut rows).unwrap();
    assert_eq!(rows.map(|r| r.start), [0, 64, 128]);
    assert_eq!(total, 256);
    assert_eq!(tiles, vec![0, 1, 2, 2]);
}

#[test]
fn item_starts_are_a_prefix_sum() {
    let mut rows = [5u32, 0, 8, 1].map(|count| InitDesc { count, ..Default::default() });
    assert_eq!(assign_item_starts(&mut rows), Some(5));
    assert_eq!(rows.map(|r| r.item_start), [0, 2, 2, 4]);
}

#[test]
fn layouts_of_rows() {
    let row = |first, count, own_block, full_block: u64, base: u64| InitDesc {
        first,
        count,
        own_block,
        full_block_lo: full_block as u32,
        full_block_hi: (full_block >> 32) as u32,
        base_lo: base as u32,
        base_hi: (base >> 32) as u32,
        ..Default::default()
    };
    assert_eq!(row_layout(&row(0, 100, 100, 100, 0)), LAYOUT_ALIGNED);
    assert_eq!(row_layout(&row(40, 60, 100, 300, 8)), LAYOUT_ALIGNED);
    assert_eq!(row_layout(&row(40, 60, 100, 300, 6)), LAYOUT_CONTIGUOUS);
    assert_eq!(row_layout(&row(0, 12, 5, 10, 5)), LAYOUT_GENERAL);
    assert_eq!(row_layout(&row(5, 5, 5, 10, 5)), LAYOUT_CONTIGUOUS);
    assert_eq!(row_layout(&row(0, 4, 4, 1 << 33, (1 << 33) - 4)), LAYOUT_ALIGNED);
}

#[test]
fn dispatch_covers_every_invocation() {
    assert_eq!(dispatch_size(0), [0, 0, 1]);
    assert_eq!(dispatch_size(1), [1, 1, 1]);
    assert_eq!(dispatch_size(64 * 65_535 + 1), [65_535, 2, 1]);
    assert_eq!(words_for(DTYPE_F16, 5), 3);
    assert_eq!(words_for(DTYPE_BOOL, 5), 5);
}

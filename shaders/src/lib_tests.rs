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
    let (total, tiles) = optim_tiles(&mut rows, WORKGROUP_SIZE).unwrap();
    assert_eq!(rows.map(|r| r.start), [0, 64, 128]);
    assert_eq!(total, 256);
    assert_eq!(tiles, vec![0, 1, 2, 2]);
    // Wide workgroups: the same rows in 256-wide workgroups.
    let (total, tiles) = optim_tiles(&mut rows, 256).unwrap();
    assert_eq!(rows.map(|r| r.start), [0, 256, 512]);
    assert_eq!(total, 768);
    assert_eq!(tiles, vec![0, 1, 2]);
    // More than 2^32 invocations is refused.
    let mut big = [OptimRow { count: u32::MAX, ..Default::default() }; 2];
    assert!(optim_tiles(&mut big, 256).is_none());
}

/// A row of `count` elements from own element `first` of a shard with the given index map.
fn row(first: u32, count: u32, own_block: u32, full_block: u64, base: u64) -> InitDesc {
    InitDesc {
        first,
        count,
        own_block,
        full_block_lo: full_block as u32,
        full_block_hi: (full_block >> 32) as u32,
        base_lo: base as u32,
        base_hi: (base >> 32) as u32,
        ..Default::default()
    }
}

#[test]
fn rows_get_whole_workgroups() {
    // Items of 4 elements, workgroups of 4 items (16 elements): 5 -> 1 group, 0 -> 0,
    // 17 -> 2, 1 -> 1.
    let mut rows = [5u32, 0, 17, 1].map(|count| InitDesc { count, ..Default::default() });
    assert_eq!(assign_workgroups(&mut rows, 4, 1), Some(vec![0, 2, 2, 3]));
    assert_eq!(rows.map(|r| r.wg_start), [0, 1, 1, 3]);
    // Two items per invocation (`init_pair_main`): workgroups of 32 elements; 40 -> 2.
    let mut rows = [5u32, 0, 40, 32].map(|count| InitDesc { count, ..Default::default() });
    assert_eq!(assign_workgroups(&mut rows, 4, PAIR_ITEMS), Some(vec![0, 2, 2, 3]));
    assert_eq!(rows.map(|r| r.wg_start), [0, 1, 1, 3]);
    // Invocations past u32 are refused.
    let mut big = [InitDesc { count: u32::MAX, ..Default::default() }; 4];
    assert_eq!(assign_workgroups(&mut big, 256, 1), None);
    assert_eq!(groups_size(65_536), [65_535, 2, 1]);
}

#[test]
fn packs_and_variants() {
    assert_eq!([DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I32, DTYPE_BOOL].map(pack_of), [0, 1, 2, 0, 0]);
    let v = init_variants();
    assert!(v.contains(&[KIND_NORMAL, LAYOUT_GENERAL, PACK_BF16]));
    assert!(!v.contains(&[KIND_FILL, LAYOUT_GENERAL, PACK_WORD]));
    assert!(!v.contains(&[KIND_UNIFORM_INT, LAYOUT_ALIGNED, PACK_F16]));
    assert!(v.contains(&[KIND_FILL, LAYOUT_VEC4, PACK_WORD]));
    assert!(!v.contains(&[KIND_NORMAL, LAYOUT_VEC4, PACK_F16]));
    assert!(v.contains(&[KIND_TRUNCATED_NORMAL, LAYOUT_VEC4, PACK_WORD]));
}

#[test]
fn layouts_of_rows() {
    assert_eq!(row_layout(&row(0, 100, 100, 100, 0)), LAYOUT_VEC4);
    assert_eq!(row_layout(&row(40, 60, 100, 300, 8)), LAYOUT_VEC4);
    // Aligned full indices without vec4 words: a count, an offset or a 16-bit dtype.
    assert_eq!(row_layout(&row(0, 98, 100, 100, 0)), LAYOUT_ALIGNED);
    assert_eq!(row_layout(&InitDesc { out_offset: 6, ..row(0, 100, 100, 100, 0) }), LAYOUT_ALIGNED);
    assert_eq!(row_layout(&InitDesc { dtype: DTYPE_F16, ..row(0, 100, 100, 100, 0) }), LAYOUT_ALIGNED);
    assert_eq!(aligned_layout(&row(0, 100, 100, 100, 0)), LAYOUT_VEC4);
    assert_eq!(aligned_layout(&row(3, 7, 100, 100, 1)), LAYOUT_ALIGNED);
    assert_eq!(row_layout(&row(40, 60, 100, 300, 6)), LAYOUT_CONTIGUOUS);
    assert_eq!(row_layout(&row(0, 12, 5, 10, 5)), LAYOUT_GENERAL);
    assert_eq!(row_layout(&row(5, 5, 5, 10, 5)), LAYOUT_CONTIGUOUS);
    assert_eq!(row_layout(&row(0, 4, 4, 1 << 33, (1 << 33) - 4)), LAYOUT_VEC4);
}

#[test]
fn dispatch_covers_every_invocation() {
    assert_eq!(dispatch_size(0), [0, 0, 1]);
    assert_eq!(dispatch_size(1), [1, 1, 1]);
    assert_eq!(dispatch_size(64 * 65_535 + 1), [65_535, 2, 1]);
    assert_eq!(words_for(DTYPE_F16, 5), 3);
    assert_eq!(words_for(DTYPE_BOOL, 5), 5);
}

#[test]
fn rebased_rows_start_at_their_first_full_index() {
    // Own element 40 of a shard whose outer blocks are 100 own / 300 full elements,
    // starting at full index 8: 0 * 300 + 8 + 40 = 48.
    let mut rows = [row(40, 8, 100, 300, 8), row(0, 8, 4, 1 << 33, (1 << 33) - 4)];
    let general = rows;
    rebase_rows(&mut rows, LAYOUT_CONTIGUOUS);
    assert_eq!((rows[0].base_lo, rows[0].base_hi), (48, 0));
    assert_eq!(rows[1].base(), (1 << 33) - 4);
    // A general pipeline keeps the index map.
    let mut kept = general;
    rebase_rows(&mut kept, LAYOUT_GENERAL);
    assert_eq!(kept, general);
}

#[test]
fn tile_bytes_pack_one_row_byte_per_workgroup() {
    let b = tile_bytes(&[0, 0, 1, 255]).expect("fits");
    assert_eq!(b.len(), INIT_TILE_BYTES);
    assert_eq!(&b[..5], &[0, 0, 1, 255, 0]);
    // Little-endian words: workgroup w is byte w % 4 of word w / 4 (vec4 w / 16).
    assert_eq!(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> 16, 0xff01);
    assert!(tile_bytes(&[256]).is_none(), "a row past 255");
    assert!(tile_bytes(&vec![0; INIT_TILE_GROUPS as usize + 1]).is_none(), "a window past the table");
    assert!(tile_bytes(&vec![7; INIT_TILE_GROUPS as usize]).is_some());
}

#[test]
fn two_item_tables() {
    let at = |out_offset: u32| InitDesc { out_offset, count: 64, ..Default::default() };
    let ok = |int64, kind, layout, pack, rows: &[InitDesc]| pairs_items(int64, [kind, layout, pack, 8], rows, 1 << 20);
    // One row or many, all at 8-word offsets.
    assert!(ok(true, KIND_NORMAL, LAYOUT_VEC4, PACK_WORD, &[at(0)]));
    assert!(ok(true, KIND_UNIFORM, LAYOUT_VEC4, PACK_WORD, &[at(0), at(64), at(256)]));
    assert!(!ok(true, KIND_UNIFORM, LAYOUT_VEC4, PACK_WORD, &[at(0), at(68)]));
    assert!(!ok(true, KIND_UNIFORM, LAYOUT_VEC4, PACK_WORD, &[]));
    // Random kinds at LAYOUT_VEC4 on 64-bit-integer devices only.
    assert!(!ok(false, KIND_NORMAL, LAYOUT_VEC4, PACK_WORD, &[at(0)]));
    assert!(!ok(true, KIND_FILL, LAYOUT_VEC4, PACK_WORD, &[at(0)]));
    assert!(!ok(true, KIND_NORMAL, LAYOUT_ALIGNED, PACK_WORD, &[at(0)]));
    assert!(!pairs_items(true, [KIND_NORMAL, LAYOUT_VEC4, PACK_WORD, 8], &[at(0)], 16));
    // Not where the wider workgroups idle more invocations: rows of 16 items fill one
    // workgroup of 16 at one item per invocation and half of one at two.
    let row = |count: u32| InitDesc { count, ..Default::default() };
    let table = |count: u32, wg: u32| {
        pairs_items(true, [KIND_NORMAL, LAYOUT_VEC4, PACK_WORD, wg], &[row(count), row(count)], 1 << 20)
    };
    assert!(!table(64, 16));
    assert!(table(128, 16));
    assert!(table(252, 16));
    assert!(!table(260, 16));
}

#[test]
fn pair_tables_split_off_their_last_single_items() {
    let row = |out_offset: u32, count: u32, base: u64| InitDesc {
        kind: KIND_NORMAL,
        out_offset,
        count,
        first: 40,
        base_lo: base as u32,
        base_hi: (base >> 32) as u32,
        key0: 7,
        ..Default::default()
    };
    // Whole pairs stay; a count of 8k + 4 leaves its last item, which starts 8k elements
    // on in the output, the own index and the full index (carried into the high word).
    let rows = [row(0, 64, 0), row(64, 20, 0xffff_fff0), row(96, 4, 8)];
    let (pairs, tails) = split_pair_tails(&rows);
    assert_eq!(pairs, vec![rows[0], InitDesc { count: 16, ..rows[1] }]);
    assert_eq!(
        tails,
        vec![InitDesc { out_offset: 80, count: 4, first: 56, base_lo: 0, base_hi: 1, ..rows[1] }, rows[2],]
    );
    // Every element once: the pairs' and the tails' counts add up to the rows'.
    let total = |t: &[InitDesc]| t.iter().map(|r| r.count).sum::<u32>();
    assert_eq!(total(&pairs) + total(&tails), total(&rows));
    assert_eq!(split_pair_tails(&rows[..1]), (vec![rows[0]], vec![]));
}

#[test]
fn full_index_follows_the_row_index_map() {
    // Rows of 3 own elements in blocks of 10 full ones, from full index 2^32 + 5.
    let mut row = InitDesc { own_block: 3, full_block_lo: 10, ..Default::default() };
    row.set_base((1 << 32) + 5);
    assert_eq!(row.full_index(0), (1 << 32) + 5);
    assert_eq!(row.full_index(7), (1 << 32) + 2 * 10 + 5 + 1);
    // own_block 0 reads as 1 (every own element its own block).
    let flat = InitDesc { full_block_lo: 4, ..Default::default() };
    assert_eq!(flat.full_index(3), 12);
}

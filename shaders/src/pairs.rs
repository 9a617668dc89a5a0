//! The two-item init kernel's planning (`init_pair_main`, shaders/init_pair.wgsl): which
//! tables it runs ([`pairs_items`]) and how a table splits into its whole pairs and the
//! single items left for `init_main` ([`split_pair_tails`]).

#[cfg(doc)]
use crate::{assign_workgroups, rebase_rows, Shader, INIT_ROWS};
use crate::{
    row_workgroups, InitDesc, ITEM_ELEMENTS, KIND_NORMAL, KIND_TRUNCATED_NORMAL, KIND_UNIFORM, KIND_UNIFORM_INT,
    LAYOUT_VEC4, PACK_WORD,
};

/// The kinds [`Shader::InitPair`] runs: the random ones (each item is one Philox block).
pub const PAIR_KINDS: [u32; 4] = [KIND_UNIFORM, KIND_UNIFORM_INT, KIND_NORMAL, KIND_TRUNCATED_NORMAL];

/// Items (Philox blocks) per invocation of [`Shader::InitPair`]: pass it to
/// [`assign_workgroups`] for a table that [`pairs_items`] accepts.
pub const PAIR_ITEMS: u32 = 2;

/// Whether a one-table dispatch of `rows` (`kind`, `layout`, `pack`) runs as
/// [`Shader::InitPair`] at workgroup size `wg` on a device with `SHADER_INT64` (`int64`):
/// rows of a random kind at [`LAYOUT_VEC4`] whose word offsets are all multiples of 8
/// (32-byte stores), in a buffer of at least 32 bytes (`buffer_bytes`), where its
/// workgroups, twice as wide in items, leave no more invocations idle than `init_main`'s
/// (rows of 1,000 elements fill half of a two-item workgroup of 256: measured 1.4x slower
/// than one item per invocation). Run it as [`split_pair_tails`] says: the rows' whole
/// pairs of items with [`Shader::InitPair`] (workgroups by
/// [`assign_workgroups`]`(.., wg, PAIR_ITEMS)`, the output bound a third time at binding
/// 5), their last single items with `init_main`.
pub fn pairs_items(int64: bool, [kind, layout, pack, wg]: [u32; 4], rows: &[InitDesc], buffer_bytes: u64) -> bool {
    let groups = |items: u32| -> u64 { rows.iter().map(|r| u64::from(row_workgroups(r.count, wg, items))).sum() };
    int64
        && PAIR_KINDS.contains(&kind)
        && layout == LAYOUT_VEC4
        && pack == PACK_WORD
        && buffer_bytes >= 32
        && !rows.is_empty()
        && rows.iter().all(|r| r.out_offset.is_multiple_of(8))
        && groups(PAIR_ITEMS) * u64::from(PAIR_ITEMS) <= groups(1)
}

/// Splits a rebased ([`rebase_rows`]) [`LAYOUT_VEC4`] table that [`pairs_items`] accepts
/// into the rows [`Shader::InitPair`] runs, each row's whole pairs of items (its count
/// rounded down to a multiple of 8; rows of fewer elements left out), and the rows of the
/// single items left over (4 elements, where a count is not a multiple of 8), for
/// `init_main` at the same constants (apart from [`INIT_ROWS`]). The pair kernel stores
/// only whole pairs: a branch for a last single item cost lavapipe a masked store in
/// every invocation (16M uniform 39 -> 33 ms, normal 62 -> 56 ms in the harness).
/// Same values: a tail row starts at its element's output word, own index and full index.
pub fn split_pair_tails(rows: &[InitDesc]) -> (Vec<InitDesc>, Vec<InitDesc>) {
    let pair = ITEM_ELEMENTS * PAIR_ITEMS;
    let mut pairs = Vec::with_capacity(rows.len());
    let mut tails = Vec::new();
    for r in rows {
        let whole = r.count - r.count % pair;
        if whole > 0 {
            pairs.push(InitDesc { count: whole, ..*r });
        }
        if whole < r.count {
            let mut tail =
                InitDesc { out_offset: r.out_offset + whole, count: r.count - whole, first: r.first + whole, ..*r };
            tail.set_base(r.base().wrapping_add(u64::from(whole)));
            tails.push(tail);
        }
    }
    (pairs, tails)
}
